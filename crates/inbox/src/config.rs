//! The receiver's settings (the server maps its flat `inbox_*` keys onto these).

use sluice_apub::signature::VerifyPolicy;
use std::time::Duration;

/// How the inbox behaves. `Default` is what production runs with.
#[derive(Debug, Clone)]
pub struct InboxConfig {
    /// Our public authority (host[:port], the configured `domain`). Signatures cover the
    /// `Host` the sender addressed, which behind a reverse proxy is this, not our socket.
    pub domain: String,
    /// Largest accepted body; beyond it 413.
    pub max_body_bytes: usize,
    /// Deepest accepted JSON nesting, checked by a byte scan before parsing.
    pub max_json_depth: usize,
    /// Answer within this time, whatever happens (senders time out at 10 s); past it 503.
    pub deadline: Duration,
    /// Longest time to receive the body; past it 408.
    pub read_timeout: Duration,
    /// Extra time a journal batch may wait for company when an insert slot is free. Zero
    /// (the default): a batch leaves as soon as a slot is free; arrivals coalesce while all
    /// slots are busy, so batches grow with load and a lone request waits for nothing.
    pub journal_linger: Duration,
    /// Most activities in one journal insert.
    pub journal_batch_max: usize,
    /// Journal inserts in flight at once (so one slow commit does not stall the rest).
    pub journal_inflight: usize,
    /// Unprocessed journal rows beyond which we answer 429 (0: no bound).
    pub backpressure_depth: u64,
    /// Age of the oldest untried journal row beyond which we answer 429 (zero: no bound).
    pub backpressure_lag: Duration,
    /// `Retry-After` sent with 429.
    pub retry_after: Duration,
    /// How often the background probe refreshes policy, local actor names and journal
    /// depth/lag (one round-trip per tick, off the request path).
    pub refresh_interval: Duration,
    /// Keys held in memory.
    pub key_cache_size: u64,
    /// How long a key stays in memory before the database is asked again.
    pub key_cache_ttl: Duration,
    /// A signature failing with a key fetched longer ago than this refetches the key once
    /// (rotation); younger keys are not refetched (no amplification by bad signatures).
    pub key_refetch_after: Duration,
    /// Signature time window.
    pub verify: VerifyPolicy,
    /// Key fetches per minute, all hosts together (over it: 503 `KeyFetchFailed` with
    /// `Retry-After`).
    pub key_fetch_per_minute: u64,
    /// Key fetches per minute to one host.
    pub key_fetch_per_host_per_minute: u64,
    /// How long a permanent key fetch failure (404, 410, not the owner's document, no such
    /// key) is remembered: requests naming that document or key are refused without a fetch.
    pub key_failure_ttl: Duration,
    /// How long a transient key fetch failure (timeout, network, 5xx) is remembered.
    pub key_transient_failure_ttl: Duration,
    /// Activities accepted per second from one instance (0: no limit); beyond it 429
    /// `RateLimited` with `Retry-After`. Instances with policy `allow` are exempt.
    pub rate_limit_per_instance: u64,
    /// Activities one instance may send at once above the rate (0: the rate itself).
    pub rate_limit_burst: u64,
    /// Database lookups of inbox names not known in memory (a local actor created since the
    /// last probe, or none at all), per minute; past them 503 `InboxLookupBusy`.
    pub actor_lookups_per_minute: u64,
    /// Lookups of unknown names that may be spent at once.
    pub actor_lookup_burst: u64,
    /// The admin's policy chain, whose actor and instance rejections are answered here.
    pub policies: sluice_policy::Live,
}

impl Default for InboxConfig {
    fn default() -> Self {
        InboxConfig {
            domain: "localhost:8080".into(),
            max_body_bytes: 1024 * 1024,
            max_json_depth: 32,
            deadline: Duration::from_secs(9),
            read_timeout: Duration::from_secs(5),
            journal_linger: Duration::ZERO,
            journal_batch_max: 256,
            journal_inflight: 16,
            backpressure_depth: 100_000,
            backpressure_lag: Duration::from_secs(600),
            retry_after: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(1),
            key_cache_size: 10_000,
            key_cache_ttl: Duration::from_secs(3600),
            key_refetch_after: Duration::from_secs(60),
            verify: VerifyPolicy::default(),
            key_fetch_per_minute: 1200,
            key_fetch_per_host_per_minute: 120,
            key_failure_ttl: Duration::from_secs(300),
            key_transient_failure_ttl: Duration::from_secs(30),
            rate_limit_per_instance: 0,
            rate_limit_burst: 0,
            actor_lookups_per_minute: 600,
            actor_lookup_burst: 60,
            policies: sluice_policy::Live::default(),
        }
    }
}
