//! The Fediseer sync ("feelers"): an allow-list instance trusts a few feeler instances;
//! what they endorse on the Fediseer (<https://fediseer.com>, a public REST API) becomes
//! allow entries, and what trusted sources censure becomes blocks, with their origin
//! recorded (`policy_source = 'fediseer'`). Manual entries always win: the sync never
//! changes or removes them. A failed fetch changes nothing. docs/fediseer.md is the
//! admin's guide.
//!
//! Modules in the order a sync runs: [`api`] (the Fediseer's endpoints and JSON shapes,
//! paged and capped) → [`plan`] (lists → entries, pure) → [`sync`] (one sync, the
//! background task, metrics).

#![deny(missing_docs)]

pub mod api;
pub mod plan;
pub mod sync;

use std::time::Duration;
use url::Url;

/// The entries taken from one source's list at most (one feeler's endorsements, one
/// source's censures or hesitations); beyond it the rest of that list is ignored.
pub const MAX_ENTRIES_PER_SOURCE: usize = 10_000;

/// What a hesitation does. There is no quarantine policy in sluice yet; when one exists,
/// it is the natural third choice here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hesitations {
    /// Hesitations are not fetched.
    #[default]
    Ignore,
    /// A hesitation counts as a censure (same reason filter and minimum count).
    Block,
}

impl Hesitations {
    /// From the configuration value (`ignore` or `block`).
    pub fn parse(s: &str) -> Result<Hesitations, String> {
        match s.trim() {
            "ignore" => Ok(Hesitations::Ignore),
            "block" => Ok(Hesitations::Block),
            other => Err(format!(
                "{other:?}: fediseer_hesitations must be \"ignore\" or \"block\""
            )),
        }
    }
}

/// The sync's configuration.
#[derive(Debug, Clone)]
pub struct FediseerConfig {
    /// The Fediseer's base URL (`https://fediseer.com`).
    pub url: Url,
    /// Instances whose endorsements add allow entries.
    pub feelers: Vec<String>,
    /// Instances whose censures add blocks.
    pub censure_sources: Vec<String>,
    /// When not empty: only censures whose reason contains one of these words
    /// (case-insensitive) count.
    pub censure_reasons: Vec<String>,
    /// A domain is blocked when at least this many sources censure it (at least 1).
    pub min_censures: usize,
    /// What hesitations of the censure sources do.
    pub hesitations: Hesitations,
    /// How often to sync.
    pub interval: Duration,
}

impl FediseerConfig {
    /// Whether there is anything to sync (no feelers and no sources: the sync is off).
    pub fn enabled(&self) -> bool {
        !(self.feelers.is_empty() && self.censure_sources.is_empty())
    }
}
