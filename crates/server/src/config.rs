//! Configuration: `sluice.toml`, every key overridable by `SLUICE_<KEY>`.
//!
//! Keys are flat (no sections) so that the environment variable of a key is always
//! `SLUICE_` + the key in upper case. Unknown keys, in the file or the environment, are
//! errors: a typo must not silently fall back to a default. Every error names its source
//! (file and line, or the variable).

use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Environment variables with the `SLUICE_` prefix that are not configuration keys.
const NON_KEY_VARS: &[&str] = &["SLUICE_CONFIG", "SLUICE_LOG", "SLUICE_PG_BIN"];

/// The whole configuration. `deploy/sluice.example.toml` documents every key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Public host name, optionally with a port; our ids live under it.
    pub domain: String,
    /// Where the HTTP server listens.
    pub bind: SocketAddr,
    /// PostgreSQL URL. Unset: the embedded cluster under `data_dir`.
    pub database_url: Option<String>,
    /// Directory for sluice's own files (the embedded cluster).
    pub data_dir: PathBuf,
    /// Database connections per process.
    #[serde(deserialize_with = "flexible")]
    pub pool_size: usize,
    /// Development mode: plain http ids, loopback/private peers allowed.
    #[serde(deserialize_with = "flexible")]
    pub dev_mode: bool,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// HTTP worker threads (0: one per CPU).
    #[serde(deserialize_with = "flexible")]
    pub http_workers: usize,
    /// Bearer token of the local APIs (`/api/v1/publish`, `/api/v1/federation`); unset
    /// disables them.
    pub publish_token: Option<String>,
    /// `delivery_concurrency = "fixed"`: deliveries to one instance sent and not yet
    /// persisted as done (1: strictly serial).
    #[serde(deserialize_with = "flexible")]
    pub delivery_window: usize,
    /// An instance failing this long without a success is dead (skipped until it sends us
    /// something or is revived).
    #[serde(deserialize_with = "flexible")]
    pub delivery_dead_after_secs: u64,
    /// Delivery lease duration: a dead process's instances move within about this time.
    #[serde(deserialize_with = "flexible")]
    pub delivery_lease_secs: u64,
    /// How often the send queue looks for new outbound activities.
    #[serde(deserialize_with = "flexible")]
    pub delivery_poll_ms: u64,
    /// Longest delay before delivery progress is persisted.
    #[serde(deserialize_with = "flexible")]
    pub delivery_flush_ms: u64,

    // --- inbox (see deploy/sluice.example.toml) ---
    /// Largest inbox body accepted (413 beyond).
    #[serde(deserialize_with = "flexible")]
    pub inbox_max_body_bytes: usize,
    /// Deepest JSON nesting accepted.
    #[serde(deserialize_with = "flexible")]
    pub inbox_max_json_depth: usize,
    /// Answer every inbox request within this many milliseconds (503 past it).
    #[serde(deserialize_with = "flexible")]
    pub inbox_deadline_ms: u64,
    /// Longest time to receive an inbox body (408 past it).
    #[serde(deserialize_with = "flexible")]
    pub inbox_read_timeout_ms: u64,
    /// Extra wait for a journal batch to fill, in microseconds (0: adaptive, no wait).
    #[serde(deserialize_with = "flexible")]
    pub inbox_journal_linger_us: u64,
    /// Most activities per journal insert.
    #[serde(deserialize_with = "flexible")]
    pub inbox_journal_batch_max: usize,
    /// Journal inserts in flight at once.
    #[serde(deserialize_with = "flexible")]
    pub inbox_journal_inflight: usize,
    /// Unprocessed journal rows beyond which the inbox answers 429 (0: no bound).
    #[serde(deserialize_with = "flexible")]
    pub inbox_backpressure_depth: u64,
    /// Age in seconds of the oldest untried journal row beyond which the inbox answers 429
    /// (0: no bound).
    #[serde(deserialize_with = "flexible")]
    pub inbox_backpressure_lag_s: u64,
    /// How often policy, local actor names and journal depth are re-read, in milliseconds.
    #[serde(deserialize_with = "flexible")]
    pub inbox_refresh_ms: u64,
    /// Signer keys held in memory.
    #[serde(deserialize_with = "flexible")]
    pub inbox_key_cache_size: u64,
    /// Seconds a key stays in memory before the database is asked again.
    #[serde(deserialize_with = "flexible")]
    pub inbox_key_cache_ttl_s: u64,
    /// Signer key fetches per minute, all hosts together (503 with `Retry-After` beyond).
    #[serde(deserialize_with = "flexible")]
    pub inbox_key_fetch_per_minute: u64,
    /// Signer key fetches per minute to one host.
    #[serde(deserialize_with = "flexible")]
    pub inbox_key_fetch_per_host_per_minute: u64,
    /// Activities accepted per second from one instance (0: no limit; 429 beyond).
    #[serde(deserialize_with = "flexible")]
    pub inbox_rate_limit_per_instance: u64,
    /// Activities one instance may send at once above that rate (0: the rate itself).
    #[serde(deserialize_with = "flexible")]
    pub inbox_rate_limit_burst: u64,
    /// Run the ingestion pipeline in this process.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_enabled: bool,
    /// Pipeline processors in this process (each holds one database connection).
    #[serde(deserialize_with = "flexible")]
    pub pipeline_workers: usize,
    /// Journal rows per batch.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_batch_size: usize,
    /// Claims of one journal row before it is `failed`.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_max_attempts: u32,
    /// First retry delay after a transient failure (doubles per attempt), seconds.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_retry_base_seconds: f64,
    /// Longest retry delay, seconds.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_retry_max_seconds: f64,
    /// How long a claimed row stays leased to this process, seconds.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_lease_seconds: f64,
    /// Longest wait for one remote fetch, seconds.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_fetch_timeout_seconds: f64,
    /// Remote fetches in flight at once per batch.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_fetch_concurrency: usize,
    /// Remote fetches one activity may cause per batch (past it: deferred, `FetchBudget`).
    #[serde(deserialize_with = "flexible")]
    pub pipeline_fetch_per_activity: usize,
    /// Remote fetches one batch may cause.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_fetch_per_batch: usize,
    /// Keep content announced by remote communities nobody here follows.
    #[serde(deserialize_with = "flexible")]
    pub pipeline_keep_all_announced: bool,
    /// Days a done or ignored journal row is kept (failed rows are kept until replayed).
    /// Within this window a re-delivered activity is recognised as a duplicate.
    #[serde(deserialize_with = "flexible")]
    pub journal_retention_days: f64,

    // --- outgoing HTTP (docs/security.md, "Outgoing HTTP") ---
    /// A proxy for every outgoing request. Unset: none, whatever `HTTP_PROXY` says.
    pub http_proxy: Option<String>,
    /// Ports outgoing requests may use outside dev_mode, comma-separated.
    pub outgoing_ports: String,
    /// Database lookups per minute of inbox names not known in memory yet.
    #[serde(deserialize_with = "flexible")]
    pub inbox_actor_lookups_per_minute: u64,
    /// Lookups of unknown inbox names that may be spent at once.
    #[serde(deserialize_with = "flexible")]
    pub inbox_actor_lookup_burst: u64,

    // --- the Fediseer sync (docs/fediseer.md); off without feelers and sources ---
    /// The Fediseer's base URL.
    pub fediseer_url: String,
    /// Instances whose endorsements on the Fediseer become allow entries.
    #[serde(deserialize_with = "list")]
    pub fediseer_feelers: Vec<String>,
    /// Instances whose censures on the Fediseer become blocks.
    #[serde(deserialize_with = "list")]
    pub fediseer_censure_sources: Vec<String>,
    /// When set: only censures whose reason contains one of these words count.
    #[serde(deserialize_with = "list")]
    pub fediseer_censure_reasons: Vec<String>,
    /// A domain is blocked when at least this many sources censure it.
    #[serde(deserialize_with = "flexible")]
    pub fediseer_min_censures: usize,
    /// What the sources' hesitations do: `ignore` or `block`.
    pub fediseer_hesitations: String,
    /// Minutes between syncs.
    #[serde(deserialize_with = "flexible")]
    pub fediseer_sync_minutes: f64,

    // --- admin console ---
    /// The admin console's login token (`/admin`); unset turns the console off (404).
    pub admin_token: Option<String>,
    /// Seconds between two journal pruning passes (the first comes after at most 60 s).
    #[serde(deserialize_with = "flexible")]
    pub journal_prune_every_seconds: f64,
    /// Seconds between two writes of the inbox's refusal counts by instance (the console).
    #[serde(deserialize_with = "flexible")]
    pub inbox_refusal_flush_s: f64,

    // --- webhooks (docs/webhooks.md) ---
    /// `[[webhook]]` tables: where events are POSTed (file only, not the environment).
    pub webhook: Vec<WebhookConfig>,
    /// Milliseconds between two looks of an idle webhook for new events.
    #[serde(deserialize_with = "flexible")]
    pub webhook_poll_ms: u64,
    /// Seconds before a failed webhook delivery's first retry (then 4 and 16 times this).
    #[serde(deserialize_with = "flexible")]
    pub webhook_retry_base_s: f64,

    // --- protected boosts (docs/security.md) ---
    /// Minutes between two reads of an origin's published federation list; 0: protected
    /// boosts off (relays reach every follower instance).
    #[serde(deserialize_with = "flexible")]
    pub origin_lists_refresh_minutes: f64,

    // --- where acknowledged activities go first ---
    /// `postgres`: the group-commit insert (one round-trip per acknowledgement); `local`:
    /// fsync under `data_dir/journal`, drained to the database in batches.
    pub journal: JournalMode,
    /// `journal = "local"`: bytes of acknowledged activities that may wait for the database;
    /// beyond them 429 `LocalJournalFull`.
    #[serde(deserialize_with = "flexible")]
    pub local_journal_max_bytes: u64,

    // --- the policy chain (docs/policies.md) ---
    /// The chain's file of `[[policy]]` entries; unset: no policies. Reloaded when it
    /// changes and on SIGHUP.
    pub policy_file: Option<PathBuf>,
    /// Where `plugin` policies' scripts are (unset: `<data_dir>/plugins`).
    pub plugins_dir: Option<PathBuf>,

    // --- the delivery window (ARCHITECTURE.md, "The send queue") ---
    /// `adaptive`: each instance's window is learned from its answers, up to
    /// `delivery_window_max`; `fixed`: always `delivery_window`.
    pub delivery_concurrency: DeliveryConcurrency,
    /// `delivery_concurrency = "adaptive"`: the largest window (a crash re-sends at most this
    /// many activities per instance).
    #[serde(deserialize_with = "flexible")]
    pub delivery_window_max: usize,
    /// Most journal rows a pipeline batch grows to while there is a backlog and the
    /// database's round-trips take most of the batch's time (a distant database).
    #[serde(deserialize_with = "flexible")]
    pub pipeline_batch_max: usize,
}

/// How each instance's delivery window is sized.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryConcurrency {
    /// Learned per instance (AIMD on its answer times, 429s and failures).
    Adaptive,
    /// Always `delivery_window`.
    Fixed,
}

/// Where the inbox makes an activity durable before its 202.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JournalMode {
    /// `received_activity`, directly.
    Postgres,
    /// The local journal (`sluice-localjournal`).
    Local,
}

/// One `[[webhook]]` table.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Its name (1–64 of `a-z 0-9 _ -`).
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// The HMAC key (at least 16 characters).
    pub secret: String,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"(hidden)")
            .finish()
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domain: "localhost:8080".into(),
            bind: "127.0.0.1:8080".parse().expect("valid default"),
            database_url: None,
            data_dir: PathBuf::from("./data"),
            pool_size: 24,
            dev_mode: false,
            log_format: LogFormat::Text,
            http_workers: 0,
            publish_token: None,
            delivery_window: 8,
            delivery_dead_after_secs: 3 * 24 * 3600,
            delivery_lease_secs: 30,
            delivery_poll_ms: 250,
            delivery_flush_ms: 1000,
            inbox_max_body_bytes: 1024 * 1024,
            inbox_max_json_depth: 32,
            inbox_deadline_ms: 9000,
            inbox_read_timeout_ms: 5000,
            inbox_journal_linger_us: 0,
            inbox_journal_batch_max: 256,
            inbox_journal_inflight: 16,
            inbox_backpressure_depth: 100_000,
            inbox_backpressure_lag_s: 600,
            inbox_refresh_ms: 1000,
            inbox_key_cache_size: 10_000,
            inbox_key_cache_ttl_s: 3600,
            inbox_key_fetch_per_minute: 1200,
            inbox_key_fetch_per_host_per_minute: 120,
            inbox_rate_limit_per_instance: 0,
            inbox_rate_limit_burst: 0,
            pipeline_enabled: true,
            pipeline_workers: 1,
            pipeline_batch_size: 512,
            pipeline_max_attempts: 5,
            pipeline_retry_base_seconds: 10.0,
            pipeline_retry_max_seconds: 3600.0,
            pipeline_lease_seconds: 120.0,
            pipeline_fetch_timeout_seconds: 10.0,
            pipeline_fetch_concurrency: 16,
            pipeline_fetch_per_activity: 32,
            pipeline_fetch_per_batch: 1000,
            pipeline_keep_all_announced: false,
            journal_retention_days: 14.0,
            http_proxy: None,
            outgoing_ports: "80,443".into(),
            inbox_actor_lookups_per_minute: 600,
            inbox_actor_lookup_burst: 60,
            fediseer_url: "https://fediseer.com".into(),
            fediseer_feelers: Vec::new(),
            fediseer_censure_sources: Vec::new(),
            fediseer_censure_reasons: Vec::new(),
            fediseer_min_censures: 1,
            fediseer_hesitations: "ignore".into(),
            fediseer_sync_minutes: 60.0,
            admin_token: None,
            journal_prune_every_seconds: 600.0,
            inbox_refusal_flush_s: 60.0,
            webhook: Vec::new(),
            webhook_poll_ms: 1000,
            webhook_retry_base_s: 10.0,
            origin_lists_refresh_minutes: 360.0,
            journal: JournalMode::Postgres,
            local_journal_max_bytes: 1 << 30,
            policy_file: None,
            plugins_dir: None,
            delivery_concurrency: DeliveryConcurrency::Adaptive,
            delivery_window_max: 64,
            pipeline_batch_max: 4096,
        }
    }
}

/// A configuration error: what is wrong and where.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// The file (with line when known) or the environment variable.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Loads `path` (when given or when `./sluice.toml` exists), then applies `SLUICE_*`
    /// variables from `env`, then validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(p) => read_file(p)?,
            None if Path::new("sluice.toml").exists() => read_file(Path::new("sluice.toml"))?,
            None => toml::Table::new(),
        };
        let file_name = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "sluice.toml".into());
        let mut sources: Vec<(String, String)> = table
            .keys()
            .map(|k| (k.clone(), file_name.clone()))
            .collect();

        for (var, value) in env {
            let Some(key) = var.strip_prefix("SLUICE_") else {
                continue;
            };
            if NON_KEY_VARS.contains(&var.as_str()) {
                continue;
            }
            let key = key.to_lowercase();
            if key == "webhook" {
                return Err(ConfigError {
                    source_name: var.clone(),
                    message: "webhooks are [[webhook]] tables of the configuration file".into(),
                });
            }
            if !Config::keys().contains(&key.as_str()) {
                return Err(ConfigError {
                    source_name: var.clone(),
                    message: format!("unknown setting (known: {})", Config::keys().join(", ")),
                });
            }
            table.insert(key.clone(), toml::Value::String(value));
            sources.retain(|(k, _)| k != &key);
            sources.push((key, var));
        }

        let mut cfg: Config =
            Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                let msg = e.to_string();
                let culprit = sources
                    .iter()
                    .find(|(k, _)| msg.contains(&format!("`{k}`")) || msg.contains(k.as_str()));
                ConfigError {
                    source_name: culprit.map(|(_, s)| s.clone()).unwrap_or(file_name.clone()),
                    message: msg.trim().to_string(),
                }
            })?;
        let set = |key: &str| sources.iter().any(|(k, _)| k == key);
        // A configuration from before the adaptive window that sets a fixed one keeps it.
        if set("delivery_window") && !set("delivery_concurrency") {
            cfg.delivery_concurrency = DeliveryConcurrency::Fixed;
        }
        cfg.validate(&sources)?;
        Ok(cfg)
    }

    /// Every key name.
    pub fn keys() -> Vec<&'static str> {
        vec![
            "domain",
            "bind",
            "database_url",
            "data_dir",
            "pool_size",
            "dev_mode",
            "log_format",
            "http_workers",
            "publish_token",
            "delivery_window",
            "delivery_dead_after_secs",
            "delivery_lease_secs",
            "delivery_poll_ms",
            "delivery_flush_ms",
            "inbox_max_body_bytes",
            "inbox_max_json_depth",
            "inbox_deadline_ms",
            "inbox_read_timeout_ms",
            "inbox_journal_linger_us",
            "inbox_journal_batch_max",
            "inbox_journal_inflight",
            "inbox_backpressure_depth",
            "inbox_backpressure_lag_s",
            "inbox_refresh_ms",
            "inbox_key_cache_size",
            "inbox_key_cache_ttl_s",
            "inbox_key_fetch_per_minute",
            "inbox_key_fetch_per_host_per_minute",
            "inbox_rate_limit_per_instance",
            "inbox_rate_limit_burst",
            "pipeline_enabled",
            "pipeline_workers",
            "pipeline_batch_size",
            "pipeline_max_attempts",
            "pipeline_retry_base_seconds",
            "pipeline_retry_max_seconds",
            "pipeline_lease_seconds",
            "pipeline_fetch_timeout_seconds",
            "pipeline_fetch_concurrency",
            "pipeline_fetch_per_activity",
            "pipeline_fetch_per_batch",
            "pipeline_keep_all_announced",
            "journal_retention_days",
            "http_proxy",
            "outgoing_ports",
            "inbox_actor_lookups_per_minute",
            "inbox_actor_lookup_burst",
            "fediseer_url",
            "fediseer_feelers",
            "fediseer_censure_sources",
            "fediseer_censure_reasons",
            "fediseer_min_censures",
            "fediseer_hesitations",
            "fediseer_sync_minutes",
            "admin_token",
            "journal_prune_every_seconds",
            "inbox_refusal_flush_s",
            "webhook",
            "webhook_poll_ms",
            "webhook_retry_base_s",
            "origin_lists_refresh_minutes",
            "journal",
            "local_journal_max_bytes",
            "policy_file",
            "plugins_dir",
            "delivery_concurrency",
            "delivery_window_max",
            "pipeline_batch_max",
        ]
    }

    fn validate(&self, sources: &[(String, String)]) -> Result<(), ConfigError> {
        let src = |key: &str| {
            sources
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| "default".into())
        };
        sluice_apub::LocalUrls::new(&self.domain, self.dev_mode).map_err(|e| ConfigError {
            source_name: src("domain"),
            message: e.to_string(),
        })?;
        // A size that would not apply under the mode asked for is an error, not ignored.
        let (unused, mode) = match self.delivery_concurrency {
            DeliveryConcurrency::Adaptive => ("delivery_window", "fixed"),
            DeliveryConcurrency::Fixed => ("delivery_window_max", "adaptive"),
        };
        if src(unused) != "default" {
            return Err(ConfigError {
                source_name: src(unused),
                message: format!(
                    "{unused} applies only with delivery_concurrency = \"{mode}\" \
                     (delivery_window: the fixed window; delivery_window_max: the adaptive one's bound)"
                ),
            });
        }
        if !(0.1..=3600.0).contains(&self.inbox_refusal_flush_s) {
            return Err(ConfigError {
                source_name: src("inbox_refusal_flush_s"),
                message: "inbox_refusal_flush_s must be a number of seconds from 0.1 to 3600"
                    .into(),
            });
        }
        if let Some(url) = &self.database_url {
            sluice_db::parse_url(url).map_err(|e| ConfigError {
                source_name: src("database_url"),
                message: e.to_string(),
            })?;
        }
        self.proxy().map_err(|message| ConfigError {
            source_name: src("http_proxy"),
            message,
        })?;
        self.ports().map_err(|message| ConfigError {
            source_name: src("outgoing_ports"),
            message,
        })?;
        for (key, value) in [
            ("pool_size", self.pool_size as u64),
            ("inbox_max_body_bytes", self.inbox_max_body_bytes as u64),
            ("inbox_max_json_depth", self.inbox_max_json_depth as u64),
            ("inbox_deadline_ms", self.inbox_deadline_ms),
            ("inbox_read_timeout_ms", self.inbox_read_timeout_ms),
            (
                "inbox_journal_batch_max",
                self.inbox_journal_batch_max as u64,
            ),
            ("inbox_journal_inflight", self.inbox_journal_inflight as u64),
            ("inbox_refresh_ms", self.inbox_refresh_ms),
            ("inbox_key_cache_size", self.inbox_key_cache_size),
            (
                "inbox_key_fetch_per_minute",
                self.inbox_key_fetch_per_minute,
            ),
            (
                "inbox_key_fetch_per_host_per_minute",
                self.inbox_key_fetch_per_host_per_minute,
            ),
            ("delivery_window", self.delivery_window as u64),
            ("delivery_lease_secs", self.delivery_lease_secs),
            ("delivery_poll_ms", self.delivery_poll_ms),
            ("delivery_flush_ms", self.delivery_flush_ms),
            (
                "inbox_actor_lookups_per_minute",
                self.inbox_actor_lookups_per_minute,
            ),
            ("inbox_actor_lookup_burst", self.inbox_actor_lookup_burst),
            ("local_journal_max_bytes", self.local_journal_max_bytes),
            ("delivery_window_max", self.delivery_window_max as u64),
        ] {
            if value == 0 {
                return Err(ConfigError {
                    source_name: src(key),
                    message: format!("{key} must be at least 1"),
                });
            }
        }
        for (key, n) in [
            ("pipeline_workers", self.pipeline_workers),
            ("pipeline_batch_size", self.pipeline_batch_size),
            ("pipeline_max_attempts", self.pipeline_max_attempts as usize),
            (
                "pipeline_fetch_concurrency",
                self.pipeline_fetch_concurrency,
            ),
            (
                "pipeline_fetch_per_activity",
                self.pipeline_fetch_per_activity,
            ),
            ("pipeline_fetch_per_batch", self.pipeline_fetch_per_batch),
            ("pipeline_batch_max", self.pipeline_batch_max),
        ] {
            if n == 0 {
                return Err(ConfigError {
                    source_name: src(key),
                    message: "must be at least 1".into(),
                });
            }
        }
        for (key, secs) in [
            (
                "pipeline_retry_base_seconds",
                self.pipeline_retry_base_seconds,
            ),
            (
                "pipeline_retry_max_seconds",
                self.pipeline_retry_max_seconds,
            ),
            ("pipeline_lease_seconds", self.pipeline_lease_seconds),
            (
                "pipeline_fetch_timeout_seconds",
                self.pipeline_fetch_timeout_seconds,
            ),
            (
                "journal_prune_every_seconds",
                self.journal_prune_every_seconds,
            ),
        ] {
            if !(secs.is_finite() && secs > 0.0 && secs < 1e7) {
                return Err(ConfigError {
                    source_name: src(key),
                    message: "must be a positive number of seconds".into(),
                });
            }
        }
        let days = self.journal_retention_days;
        if !(days.is_finite() && days > 0.0 && days <= 36500.0) {
            return Err(ConfigError {
                source_name: src("journal_retention_days"),
                message: "must be a positive number of days (at most 36500)".into(),
            });
        }
        self.fediseer_checked()
            .map_err(|(key, message)| ConfigError {
                source_name: src(key),
                message,
            })?;
        self.webhooks_checked()
            .map_err(|(key, message)| ConfigError {
                source_name: src(key),
                message,
            })?;
        let refresh = self.origin_lists_refresh_minutes;
        if !(refresh == 0.0 || (0.01..=100_000.0).contains(&refresh)) {
            return Err(ConfigError {
                source_name: src("origin_lists_refresh_minutes"),
                message: "must be 0 (off) or a number of minutes from 0.01 to 100000".into(),
            });
        }
        Ok(())
    }

    /// The origin-list reader's settings, or `None` when protected boosts are off.
    pub fn origins(&self) -> Option<sluice_origins::OriginsConfig> {
        (self.origin_lists_refresh_minutes > 0.0).then(|| {
            sluice_origins::OriginsConfig::new(
                std::time::Duration::from_secs_f64(self.origin_lists_refresh_minutes * 60.0),
                self.dev_mode,
            )
        })
    }

    /// The webhook sender's settings, or the key at fault and why: names unique, URLs the
    /// outgoing-request guard accepts (outside dev_mode no private address), known event
    /// types, secrets of at least 16 characters.
    fn webhooks_checked(&self) -> Result<sluice_webhooks::WebhooksConfig, (&'static str, String)> {
        let ports = self.ports().map_err(|e| ("outgoing_ports", e))?;
        let mut hooks: Vec<sluice_webhooks::Hook> = Vec::with_capacity(self.webhook.len());
        for w in &self.webhook {
            let fail = |m: String| ("webhook", format!("[[webhook]] {:?}: {m}", w.name));
            if !sluice_webhooks::valid_name(&w.name) {
                return Err(fail("name must be 1-64 of a-z, 0-9, _ and -".into()));
            }
            if hooks.iter().any(|h| h.name == w.name) {
                return Err(fail("two webhooks have this name".into()));
            }
            let url = url::Url::parse(&w.url).map_err(|e| fail(format!("url: {e}")))?;
            sluice_webhooks::destination::check_static(&url, &ports, self.dev_mode)
                .map_err(|e| fail(e.to_string()))?;
            let mut events = Vec::new();
            for e in &w.events {
                let kind = sluice_webhooks::EventKind::parse(e).ok_or_else(|| {
                    let known: Vec<&str> = sluice_webhooks::EventKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect();
                    fail(format!("unknown event {e:?} (known: {})", known.join(", ")))
                })?;
                if !events.contains(&kind) {
                    events.push(kind);
                }
            }
            if events.is_empty() {
                return Err(fail("list at least one event".into()));
            }
            if w.secret.chars().count() < 16 {
                return Err(fail("secret must be at least 16 characters".into()));
            }
            hooks.push(sluice_webhooks::Hook {
                name: w.name.clone(),
                url,
                events,
                secret: w.secret.clone(),
            });
        }
        if !(1..=3_600_000).contains(&self.webhook_poll_ms) {
            return Err((
                "webhook_poll_ms",
                "must be from 1 to 3600000 milliseconds".into(),
            ));
        }
        let base = self.webhook_retry_base_s;
        if !(0.001..=86_400.0).contains(&base) {
            return Err((
                "webhook_retry_base_s",
                "must be a number of seconds from 0.001 to 86400".into(),
            ));
        }
        Ok(sluice_webhooks::WebhooksConfig {
            hooks,
            poll: std::time::Duration::from_millis(self.webhook_poll_ms),
            retry_base: std::time::Duration::from_secs_f64(base),
            // Restart-stable (host and data directory), so a restarted process takes its
            // webhooks' leases back at once instead of waiting for them to expire.
            node_id: format!("{}webhooks", self.lease_group()),
            retention: std::time::Duration::from_secs_f64(self.journal_retention_days * 86400.0),
        })
    }

    /// The webhook sender's settings (validated at load).
    pub fn webhooks(&self) -> sluice_webhooks::WebhooksConfig {
        self.webhooks_checked().expect("validated at load")
    }

    /// The Fediseer sync's settings (feelers and sources in their normal form), or the key
    /// at fault and why.
    fn fediseer_checked(&self) -> Result<sluice_fediseer::FediseerConfig, (&'static str, String)> {
        let url = url::Url::parse(&self.fediseer_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or(("fediseer_url", "must be an http(s) URL".to_string()))?;
        let hosts = |key: &'static str, list: &[String]| {
            list.iter()
                .map(|d| {
                    sluice_trust::host::InstanceHost::parse(d)
                        .map(|h| h.as_str().to_string())
                        .map_err(|e| (key, format!("{d:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let feelers = hosts("fediseer_feelers", &self.fediseer_feelers)?;
        let censure_sources = hosts("fediseer_censure_sources", &self.fediseer_censure_sources)?;
        let sources = censure_sources.len().max(1);
        if !(1..=sources).contains(&self.fediseer_min_censures) {
            return Err((
                "fediseer_min_censures",
                format!("must be between 1 and the number of censure sources ({sources})"),
            ));
        }
        let hesitations = sluice_fediseer::Hesitations::parse(&self.fediseer_hesitations)
            .map_err(|e| ("fediseer_hesitations", e))?;
        let minutes = self.fediseer_sync_minutes;
        if !(0.01..=100_000.0).contains(&minutes) {
            return Err((
                "fediseer_sync_minutes",
                "must be a number of minutes from 0.01 to 100000".into(),
            ));
        }
        Ok(sluice_fediseer::FediseerConfig {
            url,
            feelers,
            censure_sources,
            censure_reasons: self.fediseer_censure_reasons.clone(),
            min_censures: self.fediseer_min_censures,
            hesitations,
            interval: std::time::Duration::from_secs_f64(minutes * 60.0),
        })
    }

    /// The Fediseer sync's settings (validated at load).
    pub fn fediseer(&self) -> sluice_fediseer::FediseerConfig {
        self.fediseer_checked().expect("validated at load")
    }

    /// What this process's pipeline leases carry before its run id: the host name and the
    /// data directory, which a restart of the same process keeps (see
    /// [`Config::pipeline`]).
    pub fn lease_group(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown-host".into());
        let dir = std::fs::canonicalize(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone());
        format!("{host}:{}#", dir.display())
    }

    /// Journal inserts in flight at once: `inbox_journal_inflight`, but never more than
    /// `pool_size` − 8 (at least 1). Each insert in flight holds a pool connection for its
    /// round-trip; under a flood of deliveries the inserts would otherwise take every
    /// connection and the pipeline, the send queue and the local API would wait behind them.
    pub fn journal_inflight(&self) -> usize {
        self.inbox_journal_inflight
            .min(self.pool_size.saturating_sub(8))
            .max(1)
    }

    /// The inbox receiver's settings.
    pub fn inbox(&self) -> sluice_inbox::InboxConfig {
        use std::time::Duration;
        sluice_inbox::InboxConfig {
            domain: self.urls().domain().to_string(),
            max_body_bytes: self.inbox_max_body_bytes,
            max_json_depth: self.inbox_max_json_depth,
            deadline: Duration::from_millis(self.inbox_deadline_ms),
            read_timeout: Duration::from_millis(self.inbox_read_timeout_ms),
            journal_linger: Duration::from_micros(self.inbox_journal_linger_us),
            journal_batch_max: self.inbox_journal_batch_max,
            journal_inflight: self.journal_inflight(),
            backpressure_depth: self.inbox_backpressure_depth,
            backpressure_lag: Duration::from_secs(self.inbox_backpressure_lag_s),
            refresh_interval: Duration::from_millis(self.inbox_refresh_ms),
            key_cache_size: self.inbox_key_cache_size,
            key_cache_ttl: Duration::from_secs(self.inbox_key_cache_ttl_s),
            key_fetch_per_minute: self.inbox_key_fetch_per_minute,
            key_fetch_per_host_per_minute: self.inbox_key_fetch_per_host_per_minute,
            rate_limit_per_instance: self.inbox_rate_limit_per_instance,
            rate_limit_burst: self.inbox_rate_limit_burst,
            actor_lookups_per_minute: self.inbox_actor_lookups_per_minute,
            actor_lookup_burst: self.inbox_actor_lookup_burst,
            ..Default::default()
        }
    }

    /// The directory of plugin scripts.
    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("plugins"))
    }

    /// The pipeline's settings.
    pub fn pipeline(&self) -> sluice_pipeline::PipelineConfig {
        use std::time::Duration;
        sluice_pipeline::PipelineConfig {
            batch_size: self.pipeline_batch_size,
            batch_max: self.pipeline_batch_max.max(self.pipeline_batch_size),
            max_attempts: self.pipeline_max_attempts,
            retry_base: Duration::from_secs_f64(self.pipeline_retry_base_seconds),
            retry_max: Duration::from_secs_f64(self.pipeline_retry_max_seconds),
            lease: Duration::from_secs_f64(self.pipeline_lease_seconds),
            fetch_timeout: Duration::from_secs_f64(self.pipeline_fetch_timeout_seconds),
            fetch_concurrency: self.pipeline_fetch_concurrency,
            fetch_per_activity: self.pipeline_fetch_per_activity,
            fetch_per_batch: self.pipeline_fetch_per_batch,
            keep_all_announced: self.pipeline_keep_all_announced,
            workers: self.pipeline_workers,
            // Stable part + a new id per run: the next run of this process knows which
            // leases were its own (and are dead), see `sluice_db::ingest::journal`.
            node_id: format!(
                "{}{}-{:x}",
                self.lease_group(),
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
            ..sluice_pipeline::PipelineConfig::default()
        }
    }

    /// The send queue's settings.
    pub fn queue(&self) -> sluice_queue::QueueConfig {
        use std::time::Duration;
        sluice_queue::QueueConfig {
            window: match self.delivery_concurrency {
                DeliveryConcurrency::Fixed => {
                    sluice_queue::WindowConfig::Fixed(self.delivery_window)
                }
                DeliveryConcurrency::Adaptive => sluice_queue::WindowConfig::Adaptive {
                    max: self.delivery_window_max,
                },
            },
            dead_after: Duration::from_secs(self.delivery_dead_after_secs),
            lease_ttl: Duration::from_secs(self.delivery_lease_secs),
            poll_interval: Duration::from_millis(self.delivery_poll_ms),
            flush_interval: Duration::from_millis(self.delivery_flush_ms),
            ..sluice_queue::QueueConfig::default()
        }
    }

    /// `http_proxy`, parsed.
    fn proxy(&self) -> Result<Option<url::Url>, String> {
        let Some(p) = self.http_proxy.as_deref().filter(|p| !p.trim().is_empty()) else {
            return Ok(None);
        };
        let u = url::Url::parse(p.trim()).map_err(|e| format!("not a URL: {e}"))?;
        match u.scheme() {
            "http" | "https" => Ok(Some(u)),
            other => Err(format!("unsupported proxy scheme {other:?}")),
        }
    }

    /// `outgoing_ports`, parsed: 1 to 65535 each, at least one.
    fn ports(&self) -> Result<Vec<u16>, String> {
        let ports = self
            .outgoing_ports
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{p:?} is not a port (1 to 65535)")),
            })
            .collect::<Result<Vec<u16>, String>>()?;
        if ports.is_empty() {
            return Err("list at least one port".into());
        }
        Ok(ports)
    }

    /// Outgoing HTTP settings.
    pub fn net(&self) -> sluice_net::NetConfig {
        sluice_net::NetConfig {
            dev_mode: self.dev_mode,
            proxy: self.proxy().expect("validated at load"),
            outgoing_ports: self.ports().expect("validated at load"),
            ..Default::default()
        }
    }

    /// The id builder for our domain.
    pub fn urls(&self) -> sluice_apub::LocalUrls {
        sluice_apub::LocalUrls::new(&self.domain, self.dev_mode).expect("validated at load")
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError {
        source_name: match e.span() {
            Some(span) => format!(
                "{}:{}",
                path.display(),
                1 + text[..span.start].matches('\n').count()
            ),
            None => path.display().to_string(),
        },
        message: e.message().to_string(),
    })
}

/// A list as a TOML array, or as one comma-separated string (environment variables).
fn list<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Array(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::Array(v) => v,
        Either::Text(s) => s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// Accepts a value in its TOML type or as a string (environment variables are strings):
/// `SLUICE_DEV_MODE=1`, `SLUICE_POOL_SIZE=32`.
fn flexible<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + Deserialize<'de>,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        Native(T),
        Text(String),
    }
    match Either::<T>::deserialize(d)? {
        Either::Native(v) => Ok(v),
        Either::Text(s) => {
            let s = match s.trim() {
                "1" | "yes" | "on" if std::any::type_name::<T>() == "bool" => "true",
                "0" | "no" | "off" if std::any::type_name::<T>() == "bool" => "false",
                other => other,
            };
            s.parse::<T>()
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_without_a_file() {
        let c = Config::load(
            None,
            env(&[
                ("SLUICE_DOMAIN", "example.org"),
                ("SLUICE_DEV_MODE", "1"),
                ("SLUICE_POOL_SIZE", "4"),
                ("HOME", "/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.domain, "example.org");
        assert!(c.dev_mode);
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn journal_inserts_leave_connections_for_the_rest() {
        let with = |pool: &str, inflight: &str| {
            Config::load(
                None,
                env(&[
                    ("SLUICE_POOL_SIZE", pool),
                    ("SLUICE_INBOX_JOURNAL_INFLIGHT", inflight),
                ]),
            )
            .unwrap()
            .inbox()
            .journal_inflight
        };
        let defaults = Config::load(None, env(&[])).unwrap();
        assert_eq!(defaults.inbox().journal_inflight, 16);
        assert_eq!(with("24", "16"), 16);
        assert_eq!(with("16", "16"), 8, "pool_size - 8");
        assert_eq!(with("4", "16"), 1, "at least one");
        assert_eq!(with("64", "4"), 4, "a smaller setting stands");
    }

    #[test]
    fn the_delivery_window_is_adaptive_unless_fixed_and_each_size_needs_its_mode() {
        let load = |vars: &[(&str, &str)]| Config::load(None, env(vars));
        assert_eq!(
            load(&[]).unwrap().queue().window,
            sluice_queue::WindowConfig::Adaptive { max: 64 }
        );
        let fixed = load(&[
            ("SLUICE_DELIVERY_CONCURRENCY", "fixed"),
            ("SLUICE_DELIVERY_WINDOW", "1"),
        ])
        .unwrap();
        assert_eq!(fixed.queue().window, sluice_queue::WindowConfig::Fixed(1));
        assert_eq!(
            load(&[("SLUICE_DELIVERY_WINDOW", "4")])
                .unwrap()
                .queue()
                .window,
            sluice_queue::WindowConfig::Fixed(4),
            "a fixed window set without a mode keeps its meaning"
        );
        let e = load(&[
            ("SLUICE_DELIVERY_CONCURRENCY", "adaptive"),
            ("SLUICE_DELIVERY_WINDOW", "4"),
        ])
        .unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DELIVERY_WINDOW", "{e}");
        let e = load(&[
            ("SLUICE_DELIVERY_CONCURRENCY", "fixed"),
            ("SLUICE_DELIVERY_WINDOW_MAX", "4"),
        ])
        .unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DELIVERY_WINDOW_MAX", "{e}");
        let e = load(&[("SLUICE_DELIVERY_WINDOW_MAX", "0")]).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DELIVERY_WINDOW_MAX", "{e}");
        let e = load(&[("SLUICE_DELIVERY_CONCURRENCY", "auto")]).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DELIVERY_CONCURRENCY", "{e}");
    }

    #[test]
    fn errors_name_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "domain = \"a.example\"\ndomian = \"typo\"\n").unwrap();
        let e = Config::load(Some(&p), env(&[])).unwrap_err();
        assert!(e.source_name.contains("s.toml"), "{e}");
        assert!(e.message.contains("domian"), "{e}");

        std::fs::write(&p, "domain = \"a.example\"\npool_size = [\n").unwrap();
        let e = Config::load(Some(&p), env(&[])).unwrap_err();
        assert!(
            e.source_name.contains("s.toml:"),
            "line number expected: {e}"
        );

        let e = Config::load(None, env(&[("SLUICE_BIND", "nonsense")])).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_BIND", "{e}");
        let e = Config::load(None, env(&[("SLUICE_DOMIAN", "x")])).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DOMIAN");
        let e = Config::load(None, env(&[("SLUICE_DATABASE_URL", "mysql://nope")])).unwrap_err();
        assert_eq!(e.source_name, "SLUICE_DATABASE_URL", "{e}");
    }

    #[test]
    fn fediseer_settings_take_lists_either_way_and_refuse_nonsense() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(
            &p,
            "fediseer_feelers = [\"Feeler.Example.\"]\nfediseer_min_censures = 2\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&p),
            env(&[("SLUICE_FEDISEER_CENSURE_SOURCES", "a.example, b.example")]),
        )
        .unwrap();
        let f = c.fediseer();
        assert!(f.enabled());
        assert_eq!(f.feelers, ["feeler.example"]);
        assert_eq!(f.censure_sources, ["a.example", "b.example"]);
        assert_eq!(f.url.as_str(), "https://fediseer.com/");
        assert!(!Config::load(None, env(&[])).unwrap().fediseer().enabled());
        for (key, value) in [
            ("SLUICE_FEDISEER_MIN_CENSURES", "2"),
            ("SLUICE_FEDISEER_HESITATIONS", "quarantine"),
            ("SLUICE_FEDISEER_URL", "ftp://fediseer.com"),
            ("SLUICE_FEDISEER_FEELERS", "not a host"),
            ("SLUICE_FEDISEER_SYNC_MINUTES", "0"),
        ] {
            let e = Config::load(None, env(&[(key, value)])).unwrap_err();
            assert_eq!(e.source_name, key, "{e}");
        }
    }

    /// A file with `[[webhook]]` tables, loaded with `vars`.
    fn with_webhooks(toml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(Some(&path), env(vars))
    }

    #[test]
    fn webhooks_are_checked_at_load() {
        let hook = |name: &str, url: &str, events: &str, secret: &str| {
            format!(
                "domain = \"sluice.example\"\n[[webhook]]\nname = \"{name}\"\nurl = \"{url}\"\n\
                 events = [{events}]\nsecret = \"{secret}\"\n"
            )
        };
        let good = hook(
            "ops",
            "https://hooks.example/x",
            "\"instance.dead\", \"journal.failed\"",
            "0123456789abcdef",
        );
        let c = with_webhooks(&good, &[]).unwrap();
        let s = c.webhooks();
        assert_eq!(s.hooks.len(), 1);
        assert_eq!(
            s.subscriptions(),
            [(
                "ops".to_string(),
                vec!["instance.dead".to_string(), "journal.failed".to_string()]
            )]
        );
        assert!(
            !format!("{c:?}").contains("0123456789abcdef"),
            "the secret is not printed"
        );
        for (toml, says) in [
            (
                hook(
                    "Ops!",
                    "https://h.example/",
                    "\"instance.dead\"",
                    "0123456789abcdef",
                ),
                "name",
            ),
            (
                hook(
                    "ops",
                    "https://10.1.1.1/",
                    "\"instance.dead\"",
                    "0123456789abcdef",
                ),
                "private",
            ),
            (
                hook(
                    "ops",
                    "http://h.example/",
                    "\"instance.dead\"",
                    "0123456789abcdef",
                ),
                "https",
            ),
            (
                hook(
                    "ops",
                    "https://h.example/",
                    "\"instance.gone\"",
                    "0123456789abcdef",
                ),
                "unknown event",
            ),
            (
                hook("ops", "https://h.example/", "", "0123456789abcdef"),
                "at least one event",
            ),
            (
                hook("ops", "https://h.example/", "\"instance.dead\"", "short"),
                "16 characters",
            ),
            (
                format!("{good}{}", &good[good.find("[[").unwrap()..]),
                "two webhooks",
            ),
        ] {
            let e = with_webhooks(&toml, &[]).unwrap_err().to_string();
            assert!(e.contains(says), "{toml}: {e}");
        }
        // A private address is a dev setup's business.
        let dev = hook(
            "ops",
            "http://127.0.0.1:9/x",
            "\"instance.dead\"",
            "0123456789abcdef",
        );
        assert!(with_webhooks(&dev, &[("SLUICE_DEV_MODE", "1")]).is_ok());
        let e = with_webhooks(&good, &[("SLUICE_WEBHOOK", "x")]).unwrap_err();
        assert!(e.to_string().contains("[[webhook]] tables"), "{e}");
    }
}
