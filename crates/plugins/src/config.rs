//! What the chain's configuration says about plugins: where they live, which are enabled,
//! and the limits every evaluation runs under.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The file name extension of a plugin script.
pub const EXTENSION: &str = "rhai";

/// Largest script file read (a plugin is a page of rules, not a program).
pub const MAX_SCRIPT_BYTES: u64 = 256 * 1024;

/// The plugin set's configuration.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// The directory the scripts are read from (`<data_dir>/plugins` by default: the caller
    /// resolves it).
    pub dir: PathBuf,
    /// The enabled plugins, by name, in chain order: `NAME` is `<dir>/NAME.rhai`.
    pub enabled: Vec<String>,
    /// Limits of every evaluation.
    pub limits: Limits,
    /// How often the script files are looked at for changes (at most once per interval, by
    /// the first evaluation after it).
    pub reload_every: Duration,
}

impl PluginConfig {
    /// The defaults for `dir` with `enabled` plugins.
    pub fn new(dir: impl Into<PathBuf>, enabled: Vec<String>) -> PluginConfig {
        PluginConfig {
            dir: dir.into(),
            enabled,
            limits: Limits::default(),
            reload_every: Duration::from_secs(2),
        }
    }
}

/// Limits of one evaluation of one plugin. Past any of them the evaluation stops, the
/// plugin's verdict is "accept" and the failure is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Operations (Rhai counts one per expression node, statement and call).
    pub max_operations: u64,
    /// Wall-clock time of one evaluation, in milliseconds.
    pub timeout_ms: u64,
    /// Bytes of all the strings one value holds (the activity's own strings included: at
    /// least the inbox's body limit).
    pub max_string_bytes: usize,
    /// Elements of all the arrays one value holds.
    pub max_array_len: usize,
    /// Entries of all the maps one value holds.
    pub max_map_len: usize,
    /// Variables alive at once (with the three above, the memory bound).
    pub max_variables: usize,
    /// Nested function calls (recursion).
    pub max_call_depth: usize,
    /// Nesting of expressions, checked when the script is compiled.
    pub max_expr_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_operations: 200_000,
            timeout_ms: 50,
            max_string_bytes: 1024 * 1024,
            max_array_len: 10_000,
            max_map_len: 10_000,
            max_variables: 128,
            max_call_depth: 16,
            max_expr_depth: 64,
        }
    }
}

impl Limits {
    /// [`Limits::timeout_ms`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Whether `name` may name a plugin: 1 to 64 of `a-z`, `0-9`, `_`, `-`. Nothing else, so a
/// name never reaches outside the plugin directory.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
