//! Admin plugins (`sluice_plugins`) as links of the policy chain: a `[[policy]]` entry of
//! kind `plugin` runs the script `<plugins_dir>/NAME.rhai` (NAME: the entry's `plugin`,
//! else its `name`) under the limits of the file's `[plugin_limits]`. The plugin's verdict
//! becomes the chain's; a plugin that fails accepts (counted by the engine).
//!
//! What a script may ask (`HostApi`) is answered from what the chain knows of the activity,
//! from memory: the author's account age (the pipeline's stored or fetched profile), and
//! counters kept per process. Instance ages and policies are not known there yet: a script
//! gets "unknown" (`()`) and `"none"`.

use serde::Deserialize;
use sluice_plugins::{Activity, HostApi, Limits, PluginConfig, PluginSet, PluginVerdict};
use sluice_policy::{Extension, Facts, Policy, Subject, Verdict};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Builds `plugin` links from the scripts in `dir`.
pub struct Plugins {
    dir: PathBuf,
    counters: Arc<sluice_plugins::Counters>,
}

impl Plugins {
    /// Plugins read from `dir`; their `count` counters live as long as this value.
    pub fn new(dir: PathBuf) -> Plugins {
        Plugins {
            dir,
            counters: Arc::new(sluice_plugins::Counters::default()),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    plugin: Option<String>,
}

impl Extension for Plugins {
    fn keys(&self) -> &'static [&'static str] {
        &["plugin_limits"]
    }

    fn build(
        &self,
        kind: &str,
        name: &str,
        options: toml::Table,
        shared: &toml::Table,
    ) -> Option<Result<Box<dyn Policy>, String>> {
        if kind != "plugin" {
            return None;
        }
        Some(self.link(name, options, shared))
    }
}

impl Plugins {
    fn link(
        &self,
        name: &str,
        options: toml::Table,
        shared: &toml::Table,
    ) -> Result<Box<dyn Policy>, String> {
        let o = Options::deserialize(toml::Value::Table(options)).map_err(|e| e.to_string())?;
        let limits = match shared.get("plugin_limits") {
            None => Limits::default(),
            Some(v) => Limits::deserialize(v.clone())
                .map_err(|e| format!("[plugin_limits]: {}", e.message()))?,
        };
        let script = o.plugin.unwrap_or_else(|| name.to_string());
        let mut config = PluginConfig::new(&self.dir, vec![script.clone()]);
        config.limits = limits;
        let set = PluginSet::load(&config).map_err(|e| e.to_string())?;
        Ok(Box::new(PluginLink {
            script,
            set,
            counters: self.counters.clone(),
        }))
    }
}

/// One plugin as a link of the chain.
struct PluginLink {
    script: String,
    set: PluginSet,
    counters: Arc<sluice_plugins::Counters>,
}

impl std::fmt::Debug for PluginLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginLink")
            .field("script", &self.script)
            .finish()
    }
}

/// What the chain knows, for the script's questions.
struct Known {
    author: Option<String>,
    author_days: Option<i64>,
    counters: Arc<sluice_plugins::Counters>,
}

impl HostApi for Known {
    fn actor_age_days(&self, actor: &str) -> Option<i64> {
        (self.author.as_deref() == Some(actor))
            .then_some(self.author_days)
            .flatten()
    }

    fn instance_age_days(&self, _host: &str) -> Option<i64> {
        None
    }

    fn instance_policy(&self, _host: &str) -> String {
        "none".to_string()
    }

    fn count(&self, key: &str, window: Duration) -> u64 {
        self.counters.count(key, window)
    }
}

impl Policy for PluginLink {
    fn kind(&self) -> &'static str {
        "plugin"
    }

    fn decide(&self, subject: &Subject<'_>, facts: &Facts) -> Verdict {
        let Ok(activity) = Activity::new(subject.raw()) else {
            return Verdict::Accept;
        };
        let host: Arc<dyn HostApi> = Arc::new(Known {
            author: subject.author().map(str::to_string),
            author_days: facts
                .author_published
                .map(|p| facts.now.signed_duration_since(p).num_days()),
            counters: self.counters.clone(),
        });
        match self.set.evaluate(&self.script, &activity, &host).verdict {
            PluginVerdict::Accept => Verdict::Accept,
            PluginVerdict::Reject { rc, reason } => Verdict::Reject { rc, reason },
            PluginVerdict::Rewrite(activity) => Verdict::Rewrite {
                activity,
                reason: format!("rewritten by plugin {}", self.script),
            },
            PluginVerdict::Hold { reason } => Verdict::Hold { reason },
        }
    }

    fn describe(&self) -> String {
        format!("the script {}.rhai", self.script)
    }

    /// A script may count (`count`), so it is asked once per activity.
    fn repeatable(&self) -> bool {
        false
    }
}
