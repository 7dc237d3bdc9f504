//! Journal pruning, off the request path: done and ignored journal rows older than
//! `journal_retention_days` are deleted in small batches, paced, so neither the inbox's
//! inserts nor the pipeline's claims wait behind a long delete. Failed rows are kept for
//! `sluice journal replay`. Several processes may prune at once: each batch skips rows
//! another holds.
//!
//! Ordering memory (`ingest_memory`) keeps journal ids, not rows: ids are never reused, so
//! comparing them stays right after their rows are gone. What the retention bounds is
//! duplicate detection: an activity delivered again after its row was pruned is journaled
//! and processed again; handlers compare with the stored state, so content does not change,
//! but a vote replayed after its own Undo counts again, as a new vote from its actor would.

use sluice_db::Db;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows per delete statement.
const BATCH: i64 = 1000;
/// Pause between two statements of one pass.
const PACE: Duration = Duration::from_millis(200);
/// The first pass waits at most this long after start-up.
const FIRST: Duration = Duration::from_secs(60);

/// Prunes every `every` until `shutdown`; the first pass starts `every` (at most a minute)
/// after start-up.
pub fn spawn(
    db: Db,
    retention_days: f64,
    every: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pause = every.min(FIRST);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = every;
            let mut pruned = 0usize;
            loop {
                match sluice_db::ingest::journal::prune(&db, retention_days * 86400.0, BATCH).await
                {
                    Ok(n) => {
                        pruned += n;
                        sluice_metrics::global()
                            .journal_pruned_rows_total
                            .inc_by(n as u64);
                        if (n as i64) < BATCH {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "journal pruning failed; trying again later");
                        break;
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(PACE) => {}
                }
            }
            if pruned > 0 {
                tracing::info!(rows = pruned, retention_days, "journal pruned");
            }
        }
    })
}
