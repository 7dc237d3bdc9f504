//! `sluice webhook status`: per webhook, its pending, delivered, failed and dropped deliveries, the
//! last success and error, and when the waiting head is retried.

use chrono::{DateTime, Utc};
pub use sluice_db::webhooks::WebhookStatus;
use std::fmt::Write;

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "-".into(),
        Some(t) if t >= now => format!("in {}", short((t - now).num_milliseconds())),
        Some(t) => format!("{} ago", short((now - t).num_milliseconds())),
    }
}

fn short(ms: i64) -> String {
    let s = ms as f64 / 1000.0;
    match s {
        s if s < 60.0 => format!("{s:.0}s"),
        s if s < 3600.0 => format!("{:.0}m", s / 60.0),
        s if s < 86400.0 => format!("{:.1}h", s / 3600.0),
        s => format!("{:.1}d", s / 86400.0),
    }
}

/// The status as a fixed-width table, one webhook per line; webhooks no longer configured
/// are marked `(removed)`.
pub fn table(rows: &[WebhookStatus], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>8} {:>10} {:>7} {:>8} {:>10} {:>10}  LAST ERROR",
        "WEBHOOK", "PENDING", "DELIVERED", "FAILED", "DROPPED", "SUCCESS", "RETRY"
    );
    for r in rows {
        let name = if r.enabled {
            r.name.clone()
        } else {
            format!("{} (removed)", r.name)
        };
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>10} {:>7} {:>8} {:>10} {:>10}  {}",
            name,
            r.pending,
            r.delivered,
            r.failed,
            r.dropped,
            when(r.last_success_at, now),
            when(r.next_retry_at, now),
            r.last_error.as_deref().unwrap_or("")
        );
    }
    if rows.is_empty() {
        out.push_str("(no webhooks)\n");
    }
    out
}
