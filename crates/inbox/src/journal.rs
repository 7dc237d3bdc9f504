//! The request path's one write: group commit.
//!
//! Requests hand their verified activity to one writer task and wait for their row to be
//! committed. The writer takes whatever has queued up, and sends it as ONE multi-row
//! `INSERT ... SELECT FROM UNNEST(...) ON CONFLICT (activity_id) DO NOTHING RETURNING
//! activity_id` (autocommit: one round-trip once the statement is prepared on that
//! connection). Up to `journal_inflight` inserts run at once, so one slow commit does not
//! hold everything up; while all slots are busy, arrivals coalesce into the next batch. A
//! lone request therefore waits for nothing, and under load batches grow by themselves
//! (`journal_linger` adds a fixed wait, for those who prefer bigger batches).
//!
//! A batch that fails for anything but the database's passing trouble is retried row by
//! row, so one unstorable activity cannot refuse its neighbours.
//!
//! The wait for the commit is the request's database time, and its share of the insert's
//! round-trips (trips / batch size) its round-trips: both are added to the request's spend
//! (`sluice_metrics::spend`), though the insert runs on another task.

use crate::Refusal;
use sluice_apub::Rc;
use sluice_db::inbox::{NewReceived, append};
use sluice_db::{Db, DbError, Retry};
use sluice_metrics::{global, spend};
use sluice_stage::{Shutdown, Waker};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// What the journal did with one activity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Journaled {
    /// The id was already in the journal (or earlier in the same batch): nothing inserted.
    pub duplicate: bool,
}

/// A writer's answer: the outcome and the request's share of the insert's round-trips.
type Reply = Result<(Journaled, f64), JournalError>;

/// Counters for tests and `sluice doctor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Insert statements sent (successful or not).
    pub inserts: u64,
    /// Activities handed to those inserts.
    pub activities: u64,
}

/// Why an activity could not be journaled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// The writer stopped: retry later (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The insert failed (shared by every request of its batch).
    #[error("journal insert failed: {0}")]
    Database(#[source] Arc<DbError>),
}

impl JournalError {
    /// When journaling may succeed: a stopped writer is our passing trouble; an insert's
    /// failure is as [`DbError::retry`] decides.
    pub fn retry(&self) -> Retry {
        match self {
            JournalError::Unavailable(_) => Retry::Later,
            JournalError::Database(e) => e.retry(),
        }
    }
}

impl From<DbError> for JournalError {
    fn from(e: DbError) -> Self {
        JournalError::Database(Arc::new(e))
    }
}

/// 503 while the sender may retry and succeed ([`JournalError::retry`]), else 500; the
/// cause stays in our log (the writer logs what is not passing trouble).
impl From<JournalError> for Refusal {
    fn from(e: JournalError) -> Self {
        if e.retry() == Retry::Later {
            Refusal::database_unavailable()
        } else {
            Refusal::new(Rc::Internal, "internal error; retry later")
        }
    }
}

struct Pending {
    row: NewReceived,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Counters {
    inserts: AtomicU64,
    activities: AtomicU64,
}

/// The journal's request side. The writer stops at shutdown (or when this is dropped),
/// once what is queued is written.
pub struct Journal {
    tx: mpsc::Sender<Pending>,
    counters: Arc<Counters>,
}

/// Writer settings.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Most rows per insert.
    pub batch_max: usize,
    /// Concurrent inserts.
    pub inflight: usize,
    /// Extra wait for company.
    pub linger: Duration,
}

impl Journal {
    /// Starts the writer task on the current runtime; `journaled` is woken after every
    /// insert that stored a new activity. The task ends after `shutdown`, its last inserts
    /// committed.
    pub fn start(
        db: Db,
        cfg: WriterConfig,
        journaled: Option<Waker>,
        shutdown: Shutdown,
    ) -> (Journal, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(8192);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(writer(db, cfg, rx, counters.clone(), journaled, shutdown));
        (Journal { tx, counters }, task)
    }

    /// Journals one activity; returns once its row is committed (or known to exist).
    pub async fn append(&self, row: NewReceived) -> Result<Journaled, JournalError> {
        let wait = Instant::now();
        let r = self.send(row).await;
        spend::add_db(wait.elapsed());
        let (journaled, share) = r?;
        spend::add_roundtrips(share);
        Ok(journaled)
    }

    async fn send(&self, row: NewReceived) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { row, reply })
            .await
            .map_err(|_| JournalError::Unavailable("the journal writer has stopped".into()))?;
        answer.await.map_err(|_| {
            JournalError::Unavailable("the journal writer dropped the request".into())
        })?
    }

    /// Inserts and activities so far.
    pub fn stats(&self) -> JournalStats {
        JournalStats {
            inserts: self.counters.inserts.load(Ordering::Relaxed),
            activities: self.counters.activities.load(Ordering::Relaxed),
        }
    }
}

async fn writer(
    db: Db,
    cfg: WriterConfig,
    mut rx: mpsc::Receiver<Pending>,
    counters: Arc<Counters>,
    journaled: Option<Waker>,
    shutdown: Shutdown,
) {
    let inflight = cfg.inflight.max(1);
    let max = cfg.batch_max.max(1);
    let slots = Arc::new(Semaphore::new(inflight));
    let mut open = true;
    while open {
        let next = tokio::select! {
            biased;
            p = rx.recv() => p,
            // Refuse new requests; what is queued is still written.
            _ = shutdown.triggered() => {
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = next else { break };
        let mut batch = vec![first];
        if !cfg.linger.is_zero() {
            let until = tokio::time::Instant::now() + cfg.linger;
            while batch.len() < max {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(p)) => batch.push(p),
                    Ok(None) => {
                        open = false;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        // Take a free insert slot; while none is free, keep gathering.
        let permit: OwnedSemaphorePermit = loop {
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            if batch.len() >= max || !open {
                match slots.clone().acquire_owned().await {
                    Ok(p) => break p,
                    Err(_) => return,
                }
            }
            tokio::select! {
                biased;
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => break p,
                    Err(_) => return,
                },
                item = rx.recv() => match item {
                    Some(p) => batch.push(p),
                    None => open = false,
                },
            }
        };
        counters.inserts.fetch_add(1, Ordering::Relaxed);
        counters
            .activities
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        tokio::spawn(write(db.clone(), batch, permit, journaled.clone()));
    }
    // Let the last inserts finish before the task ends.
    let _ = slots.acquire_many(inflight as u32).await;
}

/// Inserts one batch, answers every request in it, and wakes `journaled` when something
/// new was stored.
async fn write(
    db: Db,
    batch: Vec<Pending>,
    _permit: OwnedSemaphorePermit,
    journaled: Option<Waker>,
) {
    global()
        .journal_insert_batch_size
        .observe(batch.len() as f64);
    let wake = |inserted: &[String]| {
        if let Some(n) = &journaled
            && !inserted.is_empty()
        {
            n.wake();
        }
    };
    let rows: Vec<NewReceived> = batch.iter().map(|p| p.row.clone()).collect();
    match insert(&db, &rows).await {
        Ok((inserted, trips)) => {
            wake(&inserted);
            answer(batch, inserted, trips)
        }
        Err(e) if e.retry() != Retry::Later && batch.len() > 1 => {
            tracing::warn!(error = %e, rows = batch.len(), "journal batch failed; inserting one by one");
            for p in batch {
                let r = insert(&db, std::slice::from_ref(&p.row)).await;
                match &r {
                    Ok((inserted, _)) => wake(inserted),
                    Err(e) => {
                        tracing::error!(error = %e, id = %p.row.activity_id, "journal insert failed")
                    }
                }
                let _ = p.reply.send(
                    r.map(|(inserted, trips)| {
                        let duplicate = inserted.is_empty();
                        (Journaled { duplicate }, trips)
                    })
                    .map_err(JournalError::from),
                );
            }
        }
        Err(e) => {
            if e.retry() != Retry::Later {
                tracing::error!(error = %e, "journal insert failed");
            }
            let e = JournalError::from(e);
            for p in batch {
                let _ = p.reply.send(Err(e.clone()));
            }
        }
    }
}

/// One insert statement; returns the inserted ids and the round-trips it took.
async fn insert(db: &Db, rows: &[NewReceived]) -> Result<(Vec<String>, f64), DbError> {
    let owned = rows.to_vec();
    let (inserted, spent) = spend::measure(db.run("journal_append", move |c| {
        Box::pin(async move { append(c, &owned).await })
    }))
    .await;
    let inserted = inserted?;
    tracing::trace!(rows = rows.len(), trips = spent.roundtrips, elapsed = ?spent.total, "journal insert");
    Ok((inserted, spent.roundtrips))
}

fn answer(batch: Vec<Pending>, inserted: Vec<String>, trips: f64) {
    let share = trips / batch.len() as f64;
    let mut fresh: HashSet<String> = inserted.into_iter().collect();
    for p in batch {
        // The first request with an id gets the insert; any twin in the batch is a duplicate.
        let duplicate = !fresh.remove(&p.row.activity_id);
        let _ = p.reply.send(Ok((Journaled { duplicate }, share)));
    }
}
