//! The drainer: local records → `received_activity`, oldest first, one statement per batch.
//!
//! Each round reads the oldest records, inserts them with their own `received_at` in one
//! statement (`ON CONFLICT (activity_id) DO NOTHING`: a record drained twice, or an id the
//! database already has, leaves one row), and removes them locally only after that commit.
//! While the database is unreachable the records wait (backing off to `max_backoff`); the
//! inbox keeps acknowledging until the journal reaches its bound.
//!
//! A batch the database refuses for anything but passing trouble is retried row by row;
//! a row refused on its own is moved to `rejected/SEQ.json` beside the store (logged at
//! error level), so it can neither block the rows behind it nor be lost; what is there
//! counts against the journal's bound ([`crate::rejected`]).

use crate::LocalJournal;
use crate::store::Stored;
use sluice_db::{Db, DbError, Retry};
use sluice_metrics::global;
use sluice_stage::{Handle, Shutdown, Waker};
use std::sync::Arc;
use std::time::Duration;

/// How the drainer batches and waits.
#[derive(Debug, Clone, Copy)]
pub struct DrainConfig {
    /// Most records per insert.
    pub batch_max: usize,
    /// Longest wait between rounds while the database is failing.
    pub max_backoff: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            batch_max: 512,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What the drainer works with.
pub struct DrainDeps {
    /// The journal it empties.
    pub journal: Arc<LocalJournal>,
    /// The database it fills.
    pub db: Db,
    /// Woken after every insert that stored something new (the pipeline's waker).
    pub journaled: Option<Waker>,
}

impl DrainConfig {
    /// Starts the drainer on the current runtime. It runs until `shutdown`; a batch in
    /// progress finishes first (what is left drains at the next start).
    pub fn start(self, deps: DrainDeps, shutdown: Shutdown) -> Handle {
        let task = tokio::spawn(run(deps, self, shutdown.clone()));
        Handle::new("local journal drain", shutdown, vec![task])
    }
}

async fn run(deps: DrainDeps, cfg: DrainConfig, shutdown: Shutdown) {
    let DrainDeps {
        journal,
        db,
        journaled,
    } = deps;
    let first_backoff = Duration::from_millis(100);
    let mut backoff = first_backoff;
    while !shutdown.is_triggered() {
        let wait = match round(&journal, &db, cfg.batch_max.max(1), journaled.as_ref()).await {
            Ok(0) => {
                backoff = first_backoff;
                journal.rejected.recount_now_and_then();
                // Appends wake with a kept wake-up, so none is missed between the read
                // and this wait; the timeout is only a safety net.
                Duration::from_secs(1)
            }
            Ok(_) => {
                backoff = first_backoff;
                continue;
            }
            Err(Stop::Later) => {
                let wait = backoff;
                backoff = (backoff * 2).min(cfg.max_backoff);
                wait
            }
            Err(Stop::Closed) => return,
        };
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = journal.appended.notified(), if backoff == first_backoff => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

enum Stop {
    /// The database or the store is in passing trouble: wait and try again.
    Later,
    /// The journal is closed.
    Closed,
}

/// One batch; returns how many records it moved.
async fn round(
    journal: &LocalJournal,
    db: &Db,
    batch_max: usize,
    journaled: Option<&Waker>,
) -> Result<usize, Stop> {
    let batch = journal.store.oldest(batch_max).await.map_err(|e| match e {
        crate::LocalJournalError::Closed => Stop::Closed,
        e => {
            tracing::error!(error = %e, "local journal: reading for the drain failed");
            Stop::Later
        }
    })?;
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len();
    match insert(db, &batch).await {
        Ok(inserted) => done(journal, batch, inserted, journaled).await?,
        // Only a record at fault (`Never`) is looked for row by row; the database's own
        // trouble and a missing migration or setting (`AfterFix`) are waited out, so a
        // broken deployment does not set every record aside.
        Err(e) if e.retry() != Retry::Never => {
            tracing::warn!(error = %e, pending = journal.depth(), "local journal: the database cannot take records now; they wait");
            return Err(Stop::Later);
        }
        Err(e) => {
            tracing::warn!(error = %e, rows = batch.len(), "local journal: drain batch refused; inserting one by one");
            for one in batch {
                match insert(db, std::slice::from_ref(&one)).await {
                    Ok(inserted) => done(journal, vec![one], inserted, journaled).await?,
                    Err(e) if e.retry() != Retry::Never => return Err(Stop::Later),
                    Err(e) => {
                        set_aside(journal, &one, &e)?;
                        done(journal, vec![one], 0, journaled).await?;
                    }
                }
            }
        }
    }
    Ok(n)
}

/// Removes committed records and wakes the pipeline when something new was stored.
async fn done(
    journal: &LocalJournal,
    drained: Vec<Stored>,
    inserted: usize,
    journaled: Option<&Waker>,
) -> Result<(), Stop> {
    global().local_journal_drain_batches_total.inc();
    if inserted > 0
        && let Some(n) = journaled
    {
        n.wake();
    }
    journal.store.remove(drained).await.map_err(|e| {
        tracing::error!(error = %e, "local journal: removing drained records failed; they drain again");
        Stop::Later
    })
}

/// One insert statement; returns how many rows were new.
async fn insert(db: &Db, batch: &[Stored]) -> Result<usize, DbError> {
    let rows: Vec<_> = batch.iter().map(|s| s.record.row()).collect();
    let times: Vec<_> = batch.iter().map(|s| s.record.received_at).collect();
    let inserted = db
        .run("local_journal_drain", move |c| {
            Box::pin(async move { sluice_db::inbox::append_received_at(c, &rows, &times).await })
        })
        .await?;
    Ok(inserted.len())
}

/// Keeps a record the database will never take where a human can find it; while that
/// fails, the record stays in the journal.
fn set_aside(journal: &LocalJournal, s: &Stored, cause: &DbError) -> Result<(), Stop> {
    match journal.rejected.keep(s) {
        Ok(path) => {
            tracing::error!(
                id = %s.record.activity_id,
                path = %path.display(),
                error = %cause,
                rejected_bytes = journal.rejected.bytes(),
                max_bytes = journal.cfg.max_bytes,
                "local journal: the database refused a record; set aside (it counts against local_journal_max_bytes until the file is removed)"
            );
            Ok(())
        }
        Err(e) => {
            tracing::error!(id = %s.record.activity_id, error = %cause, write_error = %e, "local journal: the database refused a record and setting it aside failed; it stays");
            Err(Stop::Later)
        }
    }
}
