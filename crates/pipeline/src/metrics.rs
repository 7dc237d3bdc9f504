//! Pipeline metrics (defined in `sluice_metrics`): batch size, activities by type and
//! result, round-trips per activity, receipt → applied latency, the time split, and the
//! journal's depth and lag.

use crate::outcome::Step;
use crate::processor::BatchReport;
use sluice_db::ingest::journal::{Backlog, Claimed};
use sluice_metrics::global;
use sluice_metrics::spend::Spent;

/// Top-level types that get their own label; anything else is `other`.
const KINDS: &[&str] = &[
    "Create", "Update", "Delete", "Undo", "Like", "Dislike", "Follow", "Accept", "Reject",
    "Announce", "Block", "Lock", "Flag", "Add", "Remove", "Resolve",
];

fn kind_label(kind: &str) -> &str {
    KINDS
        .iter()
        .copied()
        .find(|k| *k == kind)
        .unwrap_or("other")
}

/// Records one processed batch.
pub(crate) fn batch(report: &BatchReport, rows: &[(Claimed, Step)], spent: &Spent) {
    if rows.is_empty() {
        return;
    }
    let m = global();
    let n = rows.len() as f64;
    m.pipeline_batch_size.observe(n);
    m.pipeline_db_roundtrips_per_activity
        .observe(report.roundtrips as f64 / n);
    m.pipeline_time_seconds
        .with_label_values(&["db"])
        .observe(spent.db.as_secs_f64() / n);
    m.pipeline_time_seconds
        .with_label_values(&["network"])
        .observe(spent.net.as_secs_f64() / n);
    m.pipeline_time_seconds
        .with_label_values(&["cpu"])
        .observe(spent.cpu().as_secs_f64() / n);
    let now = chrono::Utc::now();
    for (row, step) in rows {
        let result = match step {
            Step::Done { .. } => "done",
            Step::Ignored(..) => "ignored",
            Step::Failed(..) => "failed",
            Step::Held(..) => "held",
            Step::Retry(..) | Step::Need(_) => "retry",
        };
        m.pipeline_activities_total
            .with_label_values(&[kind_label(&row.kind), result])
            .inc();
        if result != "retry" {
            let age = (now - row.received_at).to_std().unwrap_or_default();
            m.pipeline_receipt_to_applied_seconds
                .observe(age.as_secs_f64());
        }
    }
}

/// Records the journal backlog.
pub(crate) fn backlog(b: &Backlog) {
    let m = global();
    m.journal_depth.set(b.depth);
    let lag = b
        .oldest
        .map(|t| {
            (chrono::Utc::now() - t)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64()
        })
        .unwrap_or(0.0);
    m.journal_lag_seconds.set(lag);
    m.review_held_activities.set(b.held);
}
