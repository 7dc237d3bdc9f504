//! Every metric sluice exports, defined and registered in one place.
//!
//! Why one crate: docs/metrics.md is checked against this registry by a test, and a
//! single definition site keeps names, units and label sets consistent (Prometheus
//! conventions: `sluice_` prefix, base units, `_seconds`/`_bytes`/`_total`, bounded
//! labels, never an id or URL as a label).
//!
//! Other crates reach the metrics through [`global()`]; the registry is process-wide,
//! like the process it describes. Tests that need exact numbers read the counters that
//! each component keeps for itself (e.g. the DB pool's round-trip counter), not these.

#![deny(missing_docs)]

mod hosts;
pub mod spend;

use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;

pub use hosts::HostLabels;
pub use prometheus;

/// Latency buckets in seconds, from 100 µs (a local round-trip) to 30 s (a slow peer).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Buckets for small counts such as round-trips per activity.
pub const COUNT_BUCKETS: &[f64] = &[0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0];

/// Most distinct peer hosts that get their own label; the rest are `other`.
pub const HOST_LABEL_CAP: usize = 50;

/// The metric set. Fields are grouped by the stage of the data path they describe.
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// Bounded peer-host label values for every `host` label below.
    pub hosts: HostLabels,

    // --- build ---
    /// Always 1; labels carry the version.
    pub build_info: IntGaugeVec,

    // --- database ---
    /// Database round-trips (request flights on the wire), by the query name that caused them.
    pub db_roundtrips_total: IntCounterVec,
    /// Wall time of one instrumented database operation, by query name.
    pub db_query_duration_seconds: HistogramVec,
    /// Database operations that failed, by query name and error class.
    pub db_errors_total: IntCounterVec,
    /// Configured pool size.
    pub db_pool_max_connections: IntGauge,
    /// Connections the pool holds.
    pub db_pool_connections: IntGauge,
    /// Connections checked out right now.
    pub db_pool_in_use: IntGauge,
    /// Idle connections in the pool.
    pub db_pool_idle: IntGauge,
    /// Tasks waiting for a connection.
    pub db_pool_waiters: IntGauge,
    /// Time spent waiting for a pool checkout.
    pub db_pool_checkout_seconds: Histogram,

    // --- HTTP (all endpoints) ---
    /// HTTP requests answered, by route and status class.
    pub http_requests_total: IntCounterVec,

    // --- inbox: receive, verify, journal ---
    /// Inbox requests by result (`accepted`, `duplicate`, `rejected`, `throttled`,
    /// `unavailable`) and `rc` (empty when accepted).
    pub inbox_requests_total: IntCounterVec,
    /// Time from request to answer, by result.
    pub inbox_ack_seconds: HistogramVec,
    /// The acknowledgement time split by `part`: `db`, `network`, `cpu` (everything else).
    pub inbox_ack_time_seconds: HistogramVec,
    /// Database round-trips on the request path per acknowledged activity.
    pub inbox_ack_db_roundtrips: Histogram,
    /// HTTP signature verification time (CPU only; key lookups excluded).
    pub signature_verify_seconds: Histogram,
    /// Key resolutions by tier: `cache`, `db`, `fetch`, `refetch`, `failed`.
    pub key_lookups_total: IntCounterVec,
    /// Activities per group-commit journal insert.
    pub journal_insert_batch_size: Histogram,
    /// Unprocessed journal rows, counted up to the inbox's backpressure bound (set by the
    /// inbox's probe only: the 429 check reads the same number).
    pub journal_depth: IntGauge,
    /// Age of the oldest unprocessed journal row not yet tried, in seconds (set by the
    /// inbox's probe only).
    pub journal_lag_seconds: prometheus::Gauge,

    // --- pipeline: batch, apply, write ---
    /// Journal rows per processed batch.
    pub pipeline_batch_size: Histogram,
    /// Activities processed, by type and result (`done`, `ignored`, `failed`, `retry`).
    pub pipeline_activities_total: IntCounterVec,
    /// Database round-trips per processed activity (one sample per batch: trips / rows).
    pub pipeline_db_roundtrips_per_activity: Histogram,
    /// Time from receipt (journal commit) to applied.
    pub pipeline_receipt_to_applied_seconds: Histogram,
    /// Batch processing time split by `part` (`db`, `network`, `cpu`), per activity.
    pub pipeline_time_seconds: HistogramVec,

    // --- outgoing HTTP: fetches and deliveries ---
    /// Remote fetch latency (network delay) by peer host and result.
    pub fetch_duration_seconds: HistogramVec,
    /// Delivery latency by peer host.
    pub delivery_duration_seconds: HistogramVec,
    /// Delivery attempts that failed, by peer host and reason (`network`, `timeout`, `5xx`,
    /// `429`, `4xx`, ...).
    pub delivery_failures_total: IntCounterVec,
    /// Deliveries completed, by peer host.
    pub deliveries_total: IntCounterVec,
    /// Activities queued for a peer and not yet delivered.
    pub queue_lag_activities: IntGaugeVec,
    /// Age of the oldest undelivered activity for a peer, in seconds.
    pub queue_lag_seconds: prometheus::GaugeVec,
    /// Deliveries on the wire right now, by peer host.
    pub delivery_in_flight: IntGaugeVec,
    /// The current delivery window (concurrency limit), by peer host.
    pub delivery_window: IntGaugeVec,
    /// Journal rows deleted by pruning (done and ignored rows past their retention).
    pub journal_pruned_rows_total: IntCounter,

    // --- the Fediseer sync ---
    /// Syncs by result (`ok`, `failed`, `skipped`).
    pub fediseer_sync_total: IntCounterVec,
    /// Unix time of the last sync that applied the Fediseer's lists.
    pub fediseer_last_success_timestamp_seconds: prometheus::Gauge,
    /// Synced entries in force, by policy (`allow`, `block`).
    pub fediseer_entries: IntGaugeVec,

    // --- the policy chain (docs/policies.md) ---
    /// Verdicts other than accept, by policy and action (`reject`, `rewrite`, `no_relay`,
    /// `hold`), counted where they take effect (the inbox's precheck, the pipeline).
    pub policy_decisions_total: IntCounterVec,
    /// Reloads of the chain's file by result (`ok`, `error`).
    pub policy_reloads_total: IntCounterVec,
    /// Journal rows held for review.
    pub review_held_activities: IntGauge,

    // --- admin plugins ---
    /// Plugin failures (the activity was accepted by that plugin), by plugin and kind.
    pub plugin_failures_total: IntCounterVec,
    /// Plugin scripts (re)compiled and put in force, by plugin.
    pub plugin_loads_total: IntCounterVec,
    /// Wall time of one plugin evaluation, by plugin.
    pub plugin_evaluation_seconds: HistogramVec,

    // --- webhooks ---
    /// Webhook delivery attempts, by webhook and result (`delivered`, `retry`, `failed`).
    pub webhook_attempts_total: IntCounterVec,
    // --- the local journal (`journal = "local"`) ---
    /// Activities acknowledged locally and not yet drained to the database.
    pub local_journal_depth: IntGauge,
    /// Their encoded bytes (bounded by `local_journal_max_bytes`).
    pub local_journal_bytes: IntGauge,
    /// Drain inserts committed.
    pub local_journal_drain_batches_total: IntCounter,
    /// One group commit: the write and its fsync.
    pub local_journal_fsync_seconds: Histogram,
    /// Bytes of the records the database refused, set aside in `rejected/`.
    pub local_journal_rejected_bytes: IntGauge,

    /// Every collector registered above, for [`Metrics::catalog`].
    collectors: Vec<Box<dyn Collector>>,
}

/// One registered metric family, as documented in docs/metrics.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Full name, e.g. `sluice_inbox_ack_seconds` (histograms add `_bucket`, `_sum`, `_count`).
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// Variable label names, in declaration order.
    pub labels: Vec<String>,
    /// The HELP text.
    pub help: String,
}

/// Builders that create a metric and register it in one step, keeping a handle to every
/// collector: the registry renders a vector only once a label set is used, so the
/// catalog of what *can* appear comes from the collectors themselves.
struct Reg<'a> {
    registry: &'a Registry,
    added: std::cell::RefCell<Vec<Box<dyn Collector>>>,
}

impl Reg<'_> {
    fn add<C: Collector + Clone + 'static>(&self, c: C) -> C {
        self.registry
            .register(Box::new(c.clone()))
            .expect("metric names are unique");
        self.added.borrow_mut().push(Box::new(c.clone()));
        c
    }
    fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("metric"))
    }
    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.add(IntCounter::new(name, help).expect("metric"))
    }
    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).expect("metric"))
    }
    fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("metric"))
    }
    fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.add(
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
                .expect("metric"),
        )
    }
    fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> HistogramVec {
        self.add(
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
            .expect("metric"),
        )
    }
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let r = Reg {
            registry: &registry,
            added: Default::default(),
        };
        let m = Metrics {
            build_info: r.gauge_vec(
                "sluice_build_info",
                "Build information; the value is always 1.",
                &["version"],
            ),
            db_roundtrips_total: r.counter_vec(
                "sluice_db_roundtrips_total",
                "Database round-trips (client request flights on the wire), by query name.",
                &["query"],
            ),
            db_query_duration_seconds: r.histogram_vec(
                "sluice_db_query_duration_seconds",
                "Wall time of one instrumented database operation, by query name.",
                &["query"],
                LATENCY_BUCKETS,
            ),
            db_errors_total: r.counter_vec(
                "sluice_db_errors_total",
                "Database operations that failed, by query name and error class.",
                &["query", "class"],
            ),
            db_pool_max_connections: r
                .gauge("sluice_db_pool_max_connections", "Configured pool size."),
            db_pool_connections: r.gauge(
                "sluice_db_pool_connections",
                "Connections currently held by the pool.",
            ),
            db_pool_in_use: r.gauge(
                "sluice_db_pool_in_use",
                "Pool connections checked out right now.",
            ),
            db_pool_idle: r.gauge("sluice_db_pool_idle", "Idle pool connections."),
            db_pool_waiters: r.gauge(
                "sluice_db_pool_waiters",
                "Tasks waiting for a pool connection.",
            ),
            db_pool_checkout_seconds: r.histogram(
                "sluice_db_pool_checkout_seconds",
                "Time spent waiting to check a connection out of the pool.",
                LATENCY_BUCKETS,
            ),
            http_requests_total: r.counter_vec(
                "sluice_http_requests_total",
                "HTTP requests answered, by route and status class.",
                &["route", "status"],
            ),
            inbox_requests_total: r.counter_vec(
                "sluice_inbox_requests_total",
                "Inbox requests by result and rc.",
                &["result", "rc"],
            ),
            inbox_ack_seconds: r.histogram_vec(
                "sluice_inbox_ack_seconds",
                "Time from inbox request to answer, by result.",
                &["result"],
                LATENCY_BUCKETS,
            ),
            inbox_ack_time_seconds: r.histogram_vec(
                "sluice_inbox_ack_time_seconds",
                "Acknowledgement time split into db, network and cpu parts.",
                &["part"],
                LATENCY_BUCKETS,
            ),
            inbox_ack_db_roundtrips: r.histogram(
                "sluice_inbox_ack_db_roundtrips",
                "Database round-trips on the request path per acknowledged activity.",
                COUNT_BUCKETS,
            ),
            signature_verify_seconds: r.histogram(
                "sluice_signature_verify_seconds",
                "HTTP signature verification time.",
                LATENCY_BUCKETS,
            ),
            key_lookups_total: r.counter_vec(
                "sluice_key_lookups_total",
                "Signature key resolutions by tier (cache, db, fetch, refetch, failed).",
                &["tier"],
            ),
            journal_insert_batch_size: r.histogram(
                "sluice_journal_insert_batch_size",
                "Activities per group-commit journal insert.",
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
            ),
            journal_depth: r.gauge("sluice_journal_depth", "Unprocessed journal rows."),
            journal_lag_seconds: r.add(
                prometheus::Gauge::new(
                    "sluice_journal_lag_seconds",
                    "Age of the oldest unprocessed journal row.",
                )
                .expect("metric"),
            ),
            pipeline_batch_size: r.histogram(
                "sluice_pipeline_batch_size",
                "Journal rows per processed batch.",
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            ),
            pipeline_activities_total: r.counter_vec(
                "sluice_pipeline_activities_total",
                "Activities processed, by type and result.",
                &["kind", "result"],
            ),
            pipeline_db_roundtrips_per_activity: r.histogram(
                "sluice_pipeline_db_roundtrips_per_activity",
                "Database round-trips per processed activity (one sample per batch).",
                COUNT_BUCKETS,
            ),
            pipeline_receipt_to_applied_seconds: r.histogram(
                "sluice_pipeline_receipt_to_applied_seconds",
                "Time from receipt (journal commit) to applied.",
                LATENCY_BUCKETS,
            ),
            pipeline_time_seconds: r.histogram_vec(
                "sluice_pipeline_time_seconds",
                "Processing time per activity split into db, network and cpu parts.",
                &["part"],
                LATENCY_BUCKETS,
            ),
            fetch_duration_seconds: r.histogram_vec(
                "sluice_fetch_duration_seconds",
                "Remote fetch latency (network delay) by peer host and result.",
                &["host", "result"],
                LATENCY_BUCKETS,
            ),
            delivery_duration_seconds: r.histogram_vec(
                "sluice_delivery_duration_seconds",
                "Outgoing delivery latency by peer host.",
                &["host"],
                LATENCY_BUCKETS,
            ),
            delivery_failures_total: r.counter_vec(
                "sluice_delivery_failures_total",
                "Failed delivery attempts by peer host and reason.",
                &["host", "reason"],
            ),
            deliveries_total: r.counter_vec(
                "sluice_deliveries_total",
                "Deliveries completed, by peer host.",
                &["host"],
            ),
            queue_lag_activities: r.gauge_vec(
                "sluice_queue_lag_activities",
                "Activities queued for a peer and not yet delivered.",
                &["host"],
            ),
            queue_lag_seconds: r.add(
                prometheus::GaugeVec::new(
                    Opts::new(
                        "sluice_queue_lag_seconds",
                        "Age of the oldest undelivered activity for a peer.",
                    ),
                    &["host"],
                )
                .expect("metric"),
            ),
            delivery_in_flight: r.gauge_vec(
                "sluice_delivery_in_flight",
                "Deliveries on the wire right now, by peer host.",
                &["host"],
            ),
            delivery_window: r.gauge_vec(
                "sluice_delivery_window",
                "The current delivery window (concurrency limit), by peer host.",
                &["host"],
            ),
            fediseer_sync_total: r.counter_vec(
                "sluice_fediseer_sync_total",
                "Fediseer syncs by result (ok, failed, skipped).",
                &["result"],
            ),
            fediseer_last_success_timestamp_seconds: r.add(
                prometheus::Gauge::new(
                    "sluice_fediseer_last_success_timestamp_seconds",
                    "Unix time of the last Fediseer sync that applied the lists.",
                )
                .expect("metric"),
            ),
            fediseer_entries: r.gauge_vec(
                "sluice_fediseer_entries",
                "Synced instance-policy entries in force, by policy.",
                &["policy"],
            ),
            journal_pruned_rows_total: r.counter(
                "sluice_journal_pruned_rows_total",
                "Journal rows deleted by pruning (done and ignored rows past their retention).",
            ),
            policy_decisions_total: r.counter_vec(
                "sluice_policy_decisions_total",
                "Policy chain verdicts other than accept, by policy and action.",
                &["policy", "action"],
            ),
            policy_reloads_total: r.counter_vec(
                "sluice_policy_reloads_total",
                "Reloads of the policy chain's file, by result (ok, error).",
                &["result"],
            ),
            review_held_activities: r.gauge(
                "sluice_review_held_activities",
                "Journal rows a policy holds for review.",
            ),
            plugin_failures_total: r.counter_vec(
                "sluice_plugin_failures_total",
                "Plugin evaluations that failed and accepted, or edits that did not compile, by plugin and kind.",
                &["plugin", "kind"],
            ),
            plugin_loads_total: r.counter_vec(
                "sluice_plugin_loads_total",
                "Plugin scripts compiled and put in force (at start and on every good edit), by plugin.",
                &["plugin"],
            ),
            plugin_evaluation_seconds: r.histogram_vec(
                "sluice_plugin_evaluation_seconds",
                "Wall time of one plugin evaluation, by plugin.",
                &["plugin"],
                LATENCY_BUCKETS,
            ),
            webhook_attempts_total: r.counter_vec(
                "sluice_webhook_attempts_total",
                "Webhook delivery attempts, by webhook and result (delivered, retry, failed).",
                &["webhook", "result"],
            ),
            local_journal_depth: r.gauge(
                "sluice_local_journal_depth",
                "Activities acknowledged locally and not yet drained to the database.",
            ),
            local_journal_bytes: r.gauge(
                "sluice_local_journal_bytes",
                "Encoded bytes of the activities waiting in the local journal.",
            ),
            local_journal_drain_batches_total: r.counter(
                "sluice_local_journal_drain_batches_total",
                "Local journal drain inserts committed.",
            ),
            local_journal_fsync_seconds: r.histogram(
                "sluice_local_journal_fsync_seconds",
                "One local journal group commit: the write and its fsync.",
                &[
                    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5,
                ],
            ),
            local_journal_rejected_bytes: r.gauge(
                "sluice_local_journal_rejected_bytes",
                "Bytes of the records the database refused, set aside in the local journal's rejected/ directory.",
            ),
            hosts: HostLabels::new(HOST_LABEL_CAP),
            registry: registry.clone(),
            // Last: every metric above is registered by now.
            collectors: r.added.into_inner(),
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m
    }

    /// Every metric family `/metrics` can expose, whether or not it has samples yet
    /// (the registry's `gather()` leaves out vectors whose label sets were never used).
    pub fn catalog(&self) -> Vec<Family> {
        let mut out: Vec<Family> = self
            .collectors
            .iter()
            .flat_map(|c| c.collect())
            .map(|mf| {
                let labels = self
                    .collectors
                    .iter()
                    .flat_map(|c| c.desc())
                    .find(|d| d.fq_name == mf.name())
                    .map(|d| d.variable_labels.clone())
                    .unwrap_or_default();
                Family {
                    name: mf.name().to_string(),
                    kind: match mf.get_field_type() {
                        MetricType::COUNTER => "counter",
                        MetricType::GAUGE => "gauge",
                        MetricType::HISTOGRAM => "histogram",
                        MetricType::SUMMARY => "summary",
                        MetricType::UNTYPED => "untyped",
                    },
                    labels,
                    help: mf.help().to_string(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Renders the registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = encoder.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The process-wide metric set.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
