//! The enabled plugins: loaded at start, reloaded when their file changes, evaluated one
//! at a time by name (the chain decides the order).

use crate::config::{EXTENSION, Limits, MAX_SCRIPT_BYTES, PluginConfig, valid_name};
use crate::engine;
use crate::failure::{Failure, FailureKind};
use crate::host::HostApi;
use crate::verdict::{PluginVerdict, ScriptVerdict};
use crate::view::Activity;
use rhai::{AST, Dynamic, Engine};
use sluice_metrics::prometheus::Histogram;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// A plugin could not be loaded at start (or at a configuration reload): the set is not
/// built, and the caller keeps the one it has.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The name is not 1 to 64 of `a-z 0-9 _ -`.
    #[error("`{0}` is not a plugin name (1 to 64 of a-z, 0-9, _ and -)")]
    BadName(String),
    /// The name is listed twice.
    #[error("plugin `{0}` is listed twice")]
    Duplicate(String),
    /// The file cannot be read, or is too large.
    #[error("plugin `{name}`: cannot read {path}")]
    Read {
        /// The plugin.
        name: String,
        /// Its file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The script does not compile.
    #[error("plugin `{name}` does not compile: {message}")]
    Compile {
        /// The plugin.
        name: String,
        /// The compiler's message, with line and column.
        message: String,
    },
}

/// What one evaluation gave: the verdict, and why it is "accept" when the plugin failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The verdict ([`PluginVerdict::Accept`] when `failure` is set).
    pub verdict: PluginVerdict,
    /// The failure, counted already.
    pub failure: Option<Failure>,
}

/// The enabled plugins, compiled, in configuration order. Shared by every thread that
/// evaluates (`Arc<PluginSet>`); a configuration reload builds a new set.
pub struct PluginSet {
    engine: Engine,
    limits: Limits,
    reload_every: Duration,
    next_check: Mutex<Instant>,
    plugins: Vec<Plugin>,
}

struct Plugin {
    name: Arc<str>,
    path: PathBuf,
    current: RwLock<Script>,
    /// The last source that failed to compile, so one broken edit is counted once.
    rejected: Mutex<Option<String>>,
    failures: [AtomicU64; FailureKind::ALL.len()],
    seconds: Histogram,
}

struct Script {
    ast: Arc<AST>,
    source: String,
}

impl PluginSet {
    /// Reads and compiles every enabled plugin; any that cannot be is an error.
    pub fn load(config: &PluginConfig) -> Result<PluginSet, LoadError> {
        let engine = engine::build(&config.limits);
        let mut plugins: Vec<Plugin> = Vec::with_capacity(config.enabled.len());
        for name in &config.enabled {
            if !valid_name(name) {
                return Err(LoadError::BadName(name.clone()));
            }
            if plugins.iter().any(|p| *p.name == **name) {
                return Err(LoadError::Duplicate(name.clone()));
            }
            let path = config.dir.join(format!("{name}.{EXTENSION}"));
            let source = read(&path).map_err(|source| LoadError::Read {
                name: name.clone(),
                path: path.clone(),
                source,
            })?;
            let ast = engine::compile(&engine, &source).map_err(|message| LoadError::Compile {
                name: name.clone(),
                message,
            })?;
            plugins.push(Plugin {
                name: name.as_str().into(),
                path,
                current: RwLock::new(Script {
                    ast: Arc::new(ast),
                    source,
                }),
                rejected: Mutex::new(None),
                failures: Default::default(),
                seconds: sluice_metrics::global()
                    .plugin_evaluation_seconds
                    .with_label_values(&[name]),
            });
        }
        // Counted once the whole set is in hand: a set refused for one plugin loads none.
        for p in &plugins {
            loaded(&p.name);
        }
        Ok(PluginSet {
            engine,
            limits: config.limits,
            reload_every: config.reload_every,
            next_check: Mutex::new(Instant::now() + config.reload_every),
            plugins,
        })
    }

    /// The plugin names, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plugins.iter().map(|p| &*p.name)
    }

    /// Evaluates plugin `name` on `activity`. Never fails: a failure is counted, logged and
    /// answered with [`PluginVerdict::Accept`]. Looks for edited scripts first when
    /// `reload_every` has passed.
    pub fn evaluate(&self, name: &str, activity: &Activity, host: &Arc<dyn HostApi>) -> Outcome {
        self.refresh_when_due();
        let Some(plugin) = self.plugins.iter().find(|p| &*p.name == name) else {
            return failed(None, FailureKind::NotLoaded, format!("no plugin `{name}`"));
        };
        let ast = plugin.ast();
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            engine::with_call(
                host.clone(),
                plugin.name.clone(),
                self.limits.timeout(),
                || {
                    self.engine
                        .eval_ast_with_scope::<Dynamic>(&mut activity.scope(), &ast)
                },
            )
        }));
        plugin.seconds.observe(started.elapsed().as_secs_f64());
        let answer = match result {
            Err(panic) => Err((FailureKind::Panic, panic_message(&*panic))),
            Ok(Err(e)) => Err((FailureKind::of(&e), e.to_string())),
            Ok(Ok(value)) => verdict(value, activity).map_err(|m| (FailureKind::Verdict, m)),
        };
        match answer {
            Ok(verdict) => Outcome {
                verdict,
                failure: None,
            },
            Err((kind, message)) => failed(Some(plugin), kind, message),
        }
    }

    /// Failures counted for plugin `name` since the set was built, by kind.
    pub fn failures(&self, name: &str, kind: FailureKind) -> u64 {
        self.plugins
            .iter()
            .find(|p| &*p.name == name)
            .map_or(0, |p| p.failures[kind.index()].load(Ordering::Relaxed))
    }

    /// Reads every script again now and puts in force each one that changed and compiles;
    /// one that does not compile (or cannot be read) leaves its last good version in force
    /// and is counted once as a `compile` failure.
    pub fn refresh(&self) {
        for plugin in &self.plugins {
            plugin.refresh(&self.engine);
        }
    }

    fn refresh_when_due(&self) {
        let now = Instant::now();
        {
            // One thread looks at the files; the others go on with what is in force.
            let Ok(mut next) = self.next_check.try_lock() else {
                return;
            };
            if now < *next {
                return;
            }
            *next = now + self.reload_every;
        }
        self.refresh();
    }
}

impl Plugin {
    fn ast(&self) -> Arc<AST> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .ast
            .clone()
    }

    fn refresh(&self, engine: &Engine) {
        let source = match read(&self.path) {
            Ok(source) => source,
            Err(e) => {
                let why = format!("cannot read {}: {e}", self.path.display());
                return self.reject(why.clone(), &why);
            }
        };
        if source
            == self
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .source
        {
            return;
        }
        match engine::compile(engine, &source) {
            Ok(ast) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Script {
                    ast: Arc::new(ast),
                    source,
                };
                *self.rejected.lock().unwrap_or_else(|e| e.into_inner()) = None;
                loaded(&self.name);
                tracing::info!(plugin = %self.name, "plugin reloaded");
            }
            Err(why) => self.reject(source, &why),
        }
    }

    /// Counts a broken edit (once per distinct content) and keeps the version in force.
    fn reject(&self, source: String, why: &str) {
        let mut rejected = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        if rejected.as_deref() == Some(source.as_str()) {
            return;
        }
        *rejected = Some(source);
        self.count(FailureKind::Compile);
        tracing::warn!(plugin = %self.name, "plugin edit not loaded, the previous version stays: {why}");
    }

    fn count(&self, kind: FailureKind) {
        self.failures[kind.index()].fetch_add(1, Ordering::Relaxed);
        sluice_metrics::global()
            .plugin_failures_total
            .with_label_values(&[&*self.name, kind.as_str()])
            .inc();
    }
}

fn failed(plugin: Option<&Plugin>, kind: FailureKind, message: String) -> Outcome {
    if let Some(p) = plugin {
        p.count(kind);
        tracing::warn!(plugin = %p.name, kind = kind.as_str(), "plugin failed, activity accepted: {message}");
    }
    Outcome {
        verdict: PluginVerdict::Accept,
        failure: Some(Failure { kind, message }),
    }
}

/// The verdict a script's value stands for: `()` (nothing returned) is "accept".
fn verdict(value: Dynamic, activity: &Activity) -> Result<PluginVerdict, String> {
    if value.is_unit() {
        return Ok(PluginVerdict::Accept);
    }
    let type_name = value.type_name();
    value
        .try_cast::<ScriptVerdict>()
        .ok_or_else(|| format!("the script returned a {type_name}, not a verdict"))?
        .check(activity)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

fn loaded(name: &str) {
    sluice_metrics::global()
        .plugin_loads_total
        .with_label_values(&[name])
        .inc();
}

/// Reads a script, at most [`MAX_SCRIPT_BYTES`].
fn read(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SCRIPT_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_SCRIPT_BYTES} bytes"
        )));
    }
    Ok(text)
}
