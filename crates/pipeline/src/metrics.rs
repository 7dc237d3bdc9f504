//! Pipeline metrics (defined in `sluice_metrics`): batch size, activities by type and
//! result, round-trips per activity, receipt → applied latency, the time split, and the
//! journal's depth and lag.

use crate::outcome::Outcome;
use crate::processor::BatchReport;
use sluice_apub::vocab::VerbType;
use sluice_db::ingest::journal::ClaimedActivity;
use sluice_metrics::global;
use sluice_metrics::spend::Spent;

/// The `kind` label: the types the vocabulary acts on (`VerbType`) get their own, anything
/// else is `other`, so a payload cannot mint label values.
fn kind_label(kind: &str) -> &'static str {
    VerbType::parse(kind).map_or("other", VerbType::as_str)
}

/// Records one processed batch.
pub(crate) fn batch(report: &BatchReport, rows: &[(ClaimedActivity, Outcome)], spent: &Spent) {
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
            Outcome::Done { .. } => "done",
            Outcome::Ignored(..) => "ignored",
            Outcome::Failed(..) => "failed",
            Outcome::Held(..) => "held",
            Outcome::Retry(..) | Outcome::Need(_) => "retry",
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
