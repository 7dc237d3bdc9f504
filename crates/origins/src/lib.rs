//! Protected boosts: content that originated on an instance in allow-list mode, relayed by
//! one of our communities, reaches only the follower instances that origin allows
//! (docs/security.md, "Protected boosts").
//!
//! This crate learns the lists, off every hot path: [`api`] reads an origin's published
//! federation list (Lemmy's `GET /api/v3/federated_instances`), [`learn`] is the stage of
//! `serve` that reads the origins that are due and stores what they publish. The filter
//! itself is part of the outbound append statement (`sluice_db::outbound`), so relaying
//! costs no extra round-trip.

#![deny(missing_docs)]

pub mod api;
pub mod learn;

use std::time::Duration;

/// The reader's settings.
#[derive(Debug, Clone)]
pub struct OriginsConfig {
    /// How long a list read is trusted before it is read again.
    pub refresh: Duration,
    /// The first wait after a failed read (doubling per failure, at most `refresh`).
    pub retry_base: Duration,
    /// Origins read per pass at most.
    pub per_pass: i64,
    /// `dev_mode`: origins are read over plain http.
    pub dev_mode: bool,
}

impl OriginsConfig {
    /// With `refresh` between reads of one origin.
    pub fn new(refresh: Duration, dev_mode: bool) -> OriginsConfig {
        OriginsConfig {
            refresh,
            retry_base: Duration::from_secs(300).min(refresh),
            per_pass: 50,
            dev_mode,
        }
    }

    /// The wait between two passes: a minute, or `refresh` when shorter.
    pub fn pass_interval(&self) -> Duration {
        self.refresh.min(Duration::from_secs(60))
    }
}
