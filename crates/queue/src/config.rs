//! The queue's knobs.

use crate::concurrency::Concurrency;
use std::time::Duration;

/// How the send queue behaves. [`QueueConfig::default`] is what production uses.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Deliveries to one instance that may be sent and not yet persisted as done (in flight,
    /// or answered but not yet in the persisted cursor): fixed, or learned per instance.
    pub window: WindowConfig,
    /// An instance failing without a single success for this long is marked dead and
    /// skipped (Lemmy: 3 days).
    pub dead_after: Duration,
    /// How long a delivery lease lasts without a heartbeat; a dead process's instances move
    /// to another process within about this time (heartbeats every third of it).
    pub lease_ttl: Duration,
    /// How often the process looks for newly appended activities (in addition to in-process
    /// wake-ups by the publish API). One query per poll for all instances.
    pub poll_interval: Duration,
    /// Longest delay before a cursor advance is persisted when nothing waits for it (a worker
    /// whose window is full asks for a write at once).
    pub flush_interval: Duration,
    /// Activities fetched per instance per query.
    pub fetch_batch: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            window: WindowConfig::Adaptive { max: 64 },
            dead_after: Duration::from_secs(3 * 24 * 3600),
            lease_ttl: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            flush_interval: Duration::from_secs(1),
            fetch_batch: 64,
        }
    }
}

/// How large each instance's delivery window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowConfig {
    /// Always this many (1 is Lemmy 0.19.3's strictly serial queue).
    Fixed(usize),
    /// Learned from each instance's answers (`crate::concurrency`), from 1 up to `max`.
    Adaptive {
        /// The largest window.
        max: usize,
    },
}

impl WindowConfig {
    /// The largest the window can be: a crash re-sends at most this many activities per
    /// instance.
    pub fn max(&self) -> usize {
        match *self {
            WindowConfig::Fixed(n) | WindowConfig::Adaptive { max: n } => n.max(1),
        }
    }

    /// A fresh concurrency limit for one instance's worker.
    pub(crate) fn concurrency(&self) -> Concurrency {
        match *self {
            WindowConfig::Fixed(n) => Concurrency::fixed(n),
            WindowConfig::Adaptive { max } => Concurrency::adaptive(max),
        }
    }
}

impl QueueConfig {
    /// Heartbeat (lease renewal and claiming) period.
    pub fn heartbeat_interval(&self) -> Duration {
        (self.lease_ttl / 3).max(Duration::from_millis(100))
    }
}
