//! Plugins as links of the policy chain (`sluice_policy`): a `[[policy]]` entry of
//! kind `plugin` runs the script `<plugins_dir>/NAME.rhai` (NAME: the entry's `plugin`,
//! else its `name`) under the limits of the file's `[plugin_limits]`. The plugin's verdict
//! becomes the chain's; a plugin that fails accepts (counted by the engine).
//!
//! An entry may list the `types` its script looks at (values of the script's `kind`): the
//! link accepts every other activity without entering the script. The activity is prepared
//! for scripts (converted to script values) once per activity, by the first plugin link
//! that needs it, and shared by the next ones ([`Subject::memo`]).
//!
//! What a script may ask (`HostApi`) is answered from what the chain knows, from memory:
//! the author's account age (the pipeline's stored or fetched profile), the instance
//! policies and first-seen times of the caller's [`sluice_policy::InstanceFacts`], and
//! counters kept per process.

use crate::{
    Activity, Counters, HostApi, Limits, PluginConfig, PluginSet, PluginVerdict, kind_seen,
};
use serde::Deserialize;
use sluice_policy::subject::host_of;
use sluice_policy::{Extension, Facts, InstanceFacts, Policy, Subject, Verdict};
use sluice_trust::host::InstanceHost;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Types one entry may list.
const MAX_TYPES: usize = 64;

/// Builds `plugin` links from the scripts in `dir`.
pub struct Plugins {
    dir: PathBuf,
    counters: Arc<Counters>,
}

impl Plugins {
    /// Plugins read from `dir`; their `count` counters live as long as this value.
    pub fn new(dir: PathBuf) -> Plugins {
        Plugins {
            dir,
            counters: Arc::new(Counters::default()),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    plugin: Option<String>,
    types: Option<Vec<String>>,
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
        if let Some(types) = &o.types
            && (types.is_empty() || types.len() > MAX_TYPES || types.iter().any(String::is_empty))
        {
            return Err(format!(
                "types: 1 to {MAX_TYPES} activity types (leave it out to see every activity)"
            ));
        }
        let script = o.plugin.unwrap_or_else(|| name.to_string());
        let mut config = PluginConfig::new(&self.dir, vec![script.clone()]);
        config.limits = limits;
        let set = PluginSet::load(&config).map_err(|e| e.to_string())?;
        Ok(Box::new(PluginLink {
            script,
            set,
            types: o.types,
            counters: self.counters.clone(),
        }))
    }
}

/// One plugin as a link of the chain.
struct PluginLink {
    script: String,
    set: PluginSet,
    /// The activity types it is asked about (`None`: every one).
    types: Option<Vec<String>>,
    counters: Arc<Counters>,
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
    /// The author's instance, port included (a script's `host` has none).
    author_host: Option<InstanceHost>,
    author_days: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
    instances: Arc<dyn InstanceFacts>,
    counters: Arc<Counters>,
}

impl Known {
    fn new(subject: &Subject<'_>, facts: &Facts, counters: Arc<Counters>) -> Known {
        let author = subject.author();
        Known {
            author: author.map(str::to_string),
            author_host: author.and_then(host_of),
            author_days: facts
                .author_published
                .map(|p| facts.now.signed_duration_since(p).num_days()),
            now: facts.now,
            instances: facts.instances.clone(),
            counters,
        }
    }

    /// The instance a script means by `host`: the author's own (with its port, as instance
    /// rows are written) when `host` names it, else `host` as written.
    fn instance<'h>(&'h self, host: &'h str) -> &'h str {
        match &self.author_host {
            Some(h) if h.name() == host || h.as_str() == host => h.as_str(),
            _ => host,
        }
    }
}

impl HostApi for Known {
    fn actor_age_days(&self, actor: &str) -> Option<i64> {
        (self.author.as_deref() == Some(actor))
            .then_some(self.author_days)
            .flatten()
    }

    fn instance_age_days(&self, host: &str) -> Option<i64> {
        let seen = self.instances.first_seen(self.instance(host))?;
        Some(self.now.signed_duration_since(seen).num_days().max(0))
    }

    fn instance_policy(&self, host: &str) -> String {
        self.instances.policy(self.instance(host)).to_string()
    }

    fn count(&self, key: &str, window: Duration) -> u64 {
        self.counters.count(key, window)
    }
}

/// What every plugin link of one pass shares about an activity: the activity prepared for
/// scripts (`None` when it cannot be) and the answers to their questions.
struct Prepared {
    activity: Option<Activity>,
    host: Arc<dyn HostApi>,
}

impl Policy for PluginLink {
    fn kind(&self) -> &'static str {
        "plugin"
    }

    fn decide(&self, subject: &Subject<'_>, facts: &Facts) -> Verdict {
        if let Some(types) = &self.types {
            let kind = kind_seen(subject.raw());
            if !types.iter().any(|t| t == kind) {
                return Verdict::Accept;
            }
        }
        let prepared = subject.memo(|s| Prepared {
            activity: Activity::new(s.raw()).ok(),
            host: Arc::new(Known::new(s, facts, self.counters.clone())),
        });
        let Some(activity) = &prepared.activity else {
            return Verdict::Accept;
        };
        match self
            .set
            .evaluate(&self.script, activity, &prepared.host)
            .verdict
        {
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
        match &self.types {
            None => format!("the script {}.rhai", self.script),
            Some(t) => format!("the script {}.rhai, on {}", self.script, t.join(", ")),
        }
    }

    /// A script may count (`count`), so it is asked once per activity.
    fn repeatable(&self) -> bool {
        false
    }
}
