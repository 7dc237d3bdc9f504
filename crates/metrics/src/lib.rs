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

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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

/// The metric set. Fields are grouped by the stage of the data path they describe.
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,

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
}

/// Builders that create a metric and register it in one step.
struct Reg<'a>(&'a Registry);

impl Reg<'_> {
    fn add<C: prometheus::core::Collector + Clone + 'static>(&self, c: C) -> C {
        self.0
            .register(Box::new(c.clone()))
            .expect("metric names are unique");
        c
    }
    fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("metric"))
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
        let r = Reg(&registry);
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
            registry: registry.clone(),
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m
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
