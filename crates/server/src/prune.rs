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

use crate::config::Config;
use sluice_db::Db;
use sluice_stage::{Handle, Shutdown};
use std::time::Duration;

/// Rows per delete statement.
const BATCH: i64 = 1000;
/// Pause between two statements of one pass.
const PACE: Duration = Duration::from_millis(200);
/// The first pass waits at most this long after start-up.
const FIRST: Duration = Duration::from_secs(60);

/// How pruning runs.
#[derive(Debug, Clone, Copy)]
pub struct PruneConfig {
    /// Done and ignored rows older than this many days are deleted.
    pub retention_days: f64,
    /// Between two passes.
    pub every: Duration,
}

impl PruneConfig {
    /// `journal_retention_days`, `journal_prune_every_seconds`.
    pub fn from_config(cfg: &Config) -> PruneConfig {
        PruneConfig {
            retention_days: cfg.journal_retention_days,
            every: Duration::from_secs_f64(cfg.journal_prune_every_seconds),
        }
    }

    /// Prunes every `every` until `shutdown`; the first pass starts `every` (at most a
    /// minute) after start-up.
    pub fn start(self, db: Db, shutdown: Shutdown) -> Handle {
        let task = tokio::spawn(passes(db, self, shutdown.clone()));
        Handle::new("journal pruning", shutdown, vec![task])
    }
}

async fn passes(db: Db, cfg: PruneConfig, shutdown: Shutdown) {
    let PruneConfig {
        retention_days,
        every,
    } = cfg;
    let mut pause = every.min(FIRST);
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = every;
        let mut pruned = 0usize;
        loop {
            match sluice_db::ingest::journal::prune(&db, retention_days * 86400.0, BATCH).await {
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
                _ = shutdown.triggered() => return,
                _ = tokio::time::sleep(PACE) => {}
            }
        }
        if pruned > 0 {
            tracing::info!(rows = pruned, retention_days, "journal pruned");
        }
    }
}
