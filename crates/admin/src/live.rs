//! What this process's own metrics say (the same registry `/metrics` renders): the
//! acknowledgement latency and the inbox's refusals by rc, since the process started.
//! Per process by nature; the pages say so.

use sluice_metrics::prometheus::core::Collector;

/// Acknowledgement time of accepted activities: (p50, p99, count), each percentile as the
/// upper bound of its histogram bucket (so "at most").
pub(crate) fn ack_latency() -> Option<(f64, f64, u64)> {
    let h = sluice_metrics::global()
        .inbox_ack_seconds
        .with_label_values(&["accepted"]);
    let family = h.collect();
    let metric = family.first()?.get_metric().first()?;
    let hist = metric.get_histogram();
    let count = hist.get_sample_count();
    if count == 0 {
        return None;
    }
    let quantile = |q: f64| {
        let rank = (q * count as f64).ceil() as u64;
        hist.get_bucket()
            .iter()
            .find(|b| b.cumulative_count() >= rank)
            .map(|b| b.upper_bound())
            .unwrap_or(f64::INFINITY)
    };
    Some((quantile(0.5), quantile(0.99), count))
}

/// Inbox refusals by rc, most frequent first.
pub(crate) fn refusals() -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = sluice_metrics::global()
        .inbox_requests_total
        .collect()
        .iter()
        .flat_map(|f| f.get_metric())
        .filter_map(|m| {
            let label = |name: &str| {
                m.get_label()
                    .iter()
                    .find(|l| l.name() == name)
                    .map(|l| l.value().to_string())
            };
            let rc = label("rc").filter(|rc| !rc.is_empty())?;
            let n = m.get_counter().get_value() as u64;
            (n > 0).then_some((rc, n))
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
