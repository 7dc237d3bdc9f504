//! The policy chain: the admin's ordered rules on incoming activities, as pure decisions.
//!
//! Each [`Policy`] of the [`Chain`] looks at an activity (its JSON, read into a
//! [`Subject`]) and the [`Facts`] the pipeline knows about it, and answers a [`Verdict`]:
//! accept, reject with an `rc`, rewrite (the next policies see, and the pipeline stores and
//! relays, the rewritten activity), no relay, or hold for review. A reject or a hold ends
//! the chain. Policies that can decide from the actor alone also answer the inbox's
//! [`Chain::precheck`], before anything is verified or stored.
//!
//! The chain is configured in its own TOML file of `[[policy]]` entries ([`config`]),
//! reloaded without a restart through [`Live`]. Nothing here touches a database or a
//! socket: the pipeline records what the chain decided in its own write.

#![deny(missing_docs)]

pub mod builtin;
mod chain;
pub mod config;
mod live;
pub mod subject;
mod verdict;

pub use chain::{Chain, End, Link, Outcome, Traced};
pub use config::{ChainError, Extension};
pub use live::{Live, Reloaded};
pub use subject::{Memo, Subject};
pub use verdict::{Action, Decision, Verdict};

use chrono::{DateTime, Utc};
use sluice_trust::host::InstanceHost;
use std::sync::Arc;

/// What the caller knows about an activity beyond its JSON.
#[derive(Clone)]
pub struct Facts {
    /// The time decisions are made at.
    pub now: DateTime<Utc>,
    /// When the author's account was created, when known (the pipeline's stored or
    /// fetched profile).
    pub author_published: Option<DateTime<Utc>>,
    /// What is known of instances, from memory.
    pub instances: Arc<dyn InstanceFacts>,
}

impl Facts {
    /// Facts with nothing known but the time.
    pub fn now() -> Facts {
        Facts {
            now: Utc::now(),
            author_published: None,
            instances: Arc::new(NothingKnown),
        }
    }
}

impl std::fmt::Debug for Facts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("now", &self.now)
            .field("author_published", &self.author_published)
            .finish_non_exhaustive()
    }
}

/// What the caller knows of instances, answered from memory (policies ask it while they
/// decide: no database round-trip, no fetch).
pub trait InstanceFacts: Send + Sync {
    /// The instance policy the admin (or the Fediseer sync) set for `host` (host[:port], as
    /// instance policies are written): `none`, `allow` or `block`, as the pipeline decides
    /// it (a block of a parent domain is a block).
    fn policy(&self, host: &str) -> &'static str;

    /// When sluice first saw the instance `host` (host[:port]), when it has.
    fn first_seen(&self, host: &str) -> Option<DateTime<Utc>>;
}

/// Nothing is known of any instance: every policy `none`, never seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingKnown;

impl InstanceFacts for NothingKnown {
    fn policy(&self, _host: &str) -> &'static str {
        "none"
    }

    fn first_seen(&self, _host: &str) -> Option<DateTime<Utc>> {
        None
    }
}

/// One rule of the chain. Implementations must not panic on any input, and must bound the
/// work any input can cause.
pub trait Policy: Send + Sync + std::fmt::Debug {
    /// The kind, as configured (`instance`, `keyword`, ...).
    fn kind(&self) -> &'static str;

    /// The verdict on `subject`.
    fn decide(&self, subject: &Subject<'_>, facts: &Facts) -> Verdict;

    /// A rejection decided from the sending actor alone (its id and instance), for the
    /// inbox to refuse before verifying or storing anything; `None` to let it through.
    fn precheck(&self, _actor: &str, _host: &InstanceHost) -> Option<String> {
        None
    }

    /// What it does, in a line (`sluice policy list`).
    fn describe(&self) -> String;

    /// Whether asking twice about one activity changes nothing (no counters, no state).
    /// Only such policies screen a batch's rows before anything is fetched
    /// ([`Chain::screen`]); the others are asked once, in the full pass.
    fn repeatable(&self) -> bool {
        true
    }
}
