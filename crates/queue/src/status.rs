//! The federation status: per instance, its state, cursor, lag and health. Shared by
//! `GET /api/v1/federation` (JSON) and `sluice federation status` (a table).

use chrono::{DateTime, Utc};
pub use sluice_db::delivery::InstanceStatus;
use sluice_db::{Db, DbError};
use std::fmt::Write;

/// Every instance sluice delivers to, by domain.
pub async fn load(db: &Db) -> Result<Vec<InstanceStatus>, DbError> {
    sluice_db::delivery::status(db).await
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "-".into(),
        Some(t) => short((now - t).to_std().unwrap_or_default().as_secs_f64()) + " ago",
    }
}

fn short(secs: f64) -> String {
    match secs {
        s if s < 60.0 => format!("{s:.0}s"),
        s if s < 3600.0 => format!("{:.0}m", s / 60.0),
        s if s < 86400.0 => format!("{:.1}h", s / 3600.0),
        s => format!("{:.1}d", s / 86400.0),
    }
}

/// The status as a fixed-width table, one instance per line.
pub fn table(rows: &[InstanceStatus], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:<7} {:>10} {:>8} {:>7} {:>10} {:>5} {:>9} {:>6}  LAST ERROR",
        "INSTANCE", "STATE", "CURSOR", "LAG", "LAG AGE", "SUCCESS", "FAILS", "RETRY IN", "DROPS"
    );
    for r in rows {
        let state = if r.policy == "block" {
            "blocked"
        } else {
            r.state.as_str()
        };
        let retry = match r.next_retry_at {
            Some(t) if t > now => short((t - now).to_std().unwrap_or_default().as_secs_f64()),
            _ => "-".into(),
        };
        let lag_age = if r.lag_activities > 0 {
            short(r.lag_seconds)
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "{:<32} {:<7} {:>10} {:>8} {:>7} {:>10} {:>5} {:>9} {:>6}  {}",
            r.domain,
            state,
            r.last_delivered_id,
            r.lag_activities,
            lag_age,
            ago(r.last_success_at, now),
            r.fail_count,
            retry,
            r.dropped,
            r.last_error.as_deref().unwrap_or("")
        );
    }
    if rows.is_empty() {
        out.push_str("(nothing delivered yet)\n");
    }
    out
}
