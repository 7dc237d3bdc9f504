//! What a script may ask of sluice: the [`HostApi`] the caller implements, and
//! [`MemoryHost`], a plain in-memory one for tests and dry runs.

use crate::counters::Counters;
use std::collections::HashMap;
use std::time::Duration;

/// Facts a plugin may ask for while it decides. Called synchronously from inside the
/// script, so every answer must come from memory: no database round-trip, no fetch.
pub trait HostApi: Send + Sync {
    /// How many whole days ago `actor` (an actor id) was first known, when it is known.
    fn actor_age_days(&self, actor: &str) -> Option<i64>;
    /// How many whole days ago the instance `host` was first seen, when it is known.
    fn instance_age_days(&self, host: &str) -> Option<i64>;
    /// The instance policy of `host` as the admin wrote it (`none`, `allow`, `block`, or a
    /// policy the chain adds).
    fn instance_policy(&self, host: &str) -> String;
    /// Counts one call with `key` and answers how many calls with `key` fell within the
    /// last `window` (this one included). Implementations keep it bounded: see [`Counters`].
    fn count(&self, key: &str, window: Duration) -> u64;
}

/// A [`HostApi`] from plain maps and in-memory [`Counters`].
#[derive(Debug, Default)]
pub struct MemoryHost {
    /// Actor id → age in days.
    pub actor_ages: HashMap<String, i64>,
    /// Host → age in days.
    pub instance_ages: HashMap<String, i64>,
    /// Host → policy; absent hosts are `none`.
    pub policies: HashMap<String, String>,
    /// The counters behind [`HostApi::count`].
    pub counters: Counters,
}

impl HostApi for MemoryHost {
    fn actor_age_days(&self, actor: &str) -> Option<i64> {
        self.actor_ages.get(actor).copied()
    }

    fn instance_age_days(&self, host: &str) -> Option<i64> {
        self.instance_ages.get(host).copied()
    }

    fn instance_policy(&self, host: &str) -> String {
        self.policies
            .get(host)
            .cloned()
            .unwrap_or_else(|| "none".to_owned())
    }

    fn count(&self, key: &str, window: Duration) -> u64 {
        self.counters.count(key, window)
    }
}
