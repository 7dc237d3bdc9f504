//! One processor: claim a batch, run its stages, write it, mark its rows: four database
//! round-trips for a batch of known activities (claim 1, lookup 1, write 2).
//!
//! The processor keeps one connection and prepares every statement on it when it takes it
//! (`sluice_db::ingest::warm_up`), so no batch pays a prepare round-trip. A write that fails
//! with a query error is retried on halves of the batch, down to the one activity that
//! fails, which is marked `failed`: one bad activity never blocks the rest. Any other
//! failure puts the batch back, as [`DbError::retry`] decides: with backoff for the
//! database's trouble, at once for rows another process leases now.
//!
//! **Leases.** A batch renews its rows' leases while it runs ([`Renewal`]), and every mark
//! it writes is fenced by its lease owner: if another process took the rows (the lease ran
//! out while the database was away, or a restart freed them), the write transaction aborts
//! and nothing of the batch is applied twice.

use crate::batch::{self, ParsedRow};
use crate::ctx::{Env, Fetched};
use crate::fetch::Fetch;
use crate::forwarded::Unverified;
use crate::metrics;
use crate::outcome::Outcome;
use crate::settings::PipelineConfig;
use crate::sizing;
use futures::FutureExt;
use sluice_apub::{LocalUrls, Rc};
use sluice_db::ingest::journal::{self, ClaimedActivity, Mark, Verdict};
use sluice_db::ingest::{self, Changes};
use sluice_db::{Conn, Db, DbError, Retry};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Rows applied.
    pub done: usize,
    /// Rows understood and not stored.
    pub ignored: usize,
    /// Rows given up.
    pub failed: usize,
    /// Rows put back for a later attempt.
    pub retried: usize,
    /// Rows a policy holds for review.
    pub held: usize,
    /// Database round-trips the batch cost (its spend: the lease renewals, on a task of
    /// their own, and the connection's warm-up are not the batch's).
    pub roundtrips: u64,
}

/// Claims and processes batches of journal rows.
pub struct Processor {
    db: Db,
    conn: Option<Conn>,
    env: Arc<Env>,
    fetcher: Arc<dyn Fetch>,
    batches: u64,
    unverified: Unverified,
    policy: sluice_db::policy_cache::PolicyCache,
    /// Rows the next claim asks for (`sizing`).
    limit: usize,
    /// One round-trip on the connection, measured when it was taken.
    rtt: Duration,
}

/// Retried rows (fetch timeouts, budgets, unresolved references, trouble) run in chunks of
/// this many, after the batch's fresh rows.
const SLOW_LANE_CHUNK: usize = 4;

/// The chunks a batch runs in: its fresh rows first, together, then the rows claimed again
/// (the slow lane), a few at a time. A poisoned activity costs its own chunk a fetch
/// timeout, never the fresh rows, which are written before it runs.
fn lanes(rows: Vec<ClaimedActivity>) -> VecDeque<Vec<ParsedRow>> {
    let (slow, fresh): (Vec<ClaimedActivity>, Vec<ClaimedActivity>) =
        rows.into_iter().partition(|r| r.attempts > 1);
    let mut queue = VecDeque::new();
    // With nothing else to run, an empty chunk still runs: the marks of rows already
    // decided ride on the first write.
    if !fresh.is_empty() || slow.is_empty() {
        queue.push_back(fresh.into_iter().map(ParsedRow::new).collect());
    }
    let mut slow = slow.into_iter().map(ParsedRow::new).peekable();
    while slow.peek().is_some() {
        queue.push_back(slow.by_ref().take(SLOW_LANE_CHUNK).collect());
    }
    queue
}

impl Processor {
    /// A processor on `db`; it takes its connection on first use.
    pub fn new(db: Db, settings: PipelineConfig, fetcher: Arc<dyn Fetch>, urls: LocalUrls) -> Self {
        Processor {
            limit: settings.batch_size,
            rtt: Duration::ZERO,
            db,
            conn: None,
            env: Arc::new(Env { settings, urls }),
            fetcher,
            batches: 0,
            unverified: Unverified::default(),
            policy: Default::default(),
        }
    }

    /// Takes the connection (if not yet held), prepares every pipeline statement on it and
    /// times one round-trip on it (the batch's size follows it: `sizing`).
    pub async fn warm_up(&mut self) -> Result<(), DbError> {
        if self.conn.is_none() {
            let mut conn = self.db.get().await?;
            ingest::warm_up(&mut conn).await?;
            // The first ping prepares its statement; the second is one round-trip.
            sluice_db::probe::ping(&mut conn).await?;
            let start = Instant::now();
            sluice_db::probe::ping(&mut conn).await?;
            self.rtt = start.elapsed();
            self.conn = Some(conn);
        }
        Ok(())
    }

    /// The processor's connection, warmed. (Not an async fn of its own: in debug builds
    /// every nested poll frame counts, and the pipeline's deepest path runs through here.)
    fn held(&mut self) -> Result<&mut Conn, DbError> {
        self.conn
            .as_mut()
            .ok_or_else(|| DbError::Unavailable("no connection".into()))
    }

    /// Claims and processes one batch. An empty journal claims nothing.
    pub async fn run_once(&mut self) -> Result<BatchReport, DbError> {
        self.warm_up().await?;
        let (asked, start) = (self.limit, Instant::now());
        // Boxed: a batch is a large state machine, kept off the caller's stack.
        let (result, spent) = sluice_metrics::spend::measure(Box::pin(self.batch())).await;
        match result {
            Ok((mut report, rows)) => {
                report.roundtrips = spent.roundtrips.round() as u64;
                metrics::batch(&report, &rows, &spent);
                self.limit = sizing::next_limit(
                    &self.env.settings,
                    &sizing::Observed {
                        asked,
                        claimed: report.claimed,
                        roundtrips: report.roundtrips,
                        rtt: self.rtt,
                        took: start.elapsed(),
                        fetched: !spent.net.is_zero(),
                    },
                );
                Ok(report)
            }
            Err(e) => {
                // A connection that failed mid-batch is not trusted again.
                self.conn = None;
                self.limit = self.env.settings.batch_size;
                Err(e)
            }
        }
    }

    async fn batch(&mut self) -> Result<(BatchReport, Vec<(ClaimedActivity, Outcome)>), DbError> {
        let settings = &self.env.settings;
        let (limit, owner, lease) = (
            self.limit as i64,
            settings.node_id.clone(),
            settings.lease.as_secs_f64(),
        );
        self.warm_up().await?;
        let conn = self.held()?;
        let rows = conn
            .run("ingest_claim", move |c| {
                async move { journal::claim(c, limit, &owner, lease).await }.boxed()
            })
            .await?;
        let mut report = BatchReport {
            claimed: rows.len(),
            ..BatchReport::default()
        };
        if rows.is_empty() {
            return Ok((report, Vec::new()));
        }
        self.batches += 1;
        // Kept until the batch ends, however it ends.
        let _renewal = Renewal::start(
            self.db.clone(),
            rows.iter().map(|r| r.id).collect(),
            self.env.settings.node_id.clone(),
            self.env.settings.lease,
        );
        let max = self.env.settings.max_attempts as i32;
        let (exhausted, live): (Vec<ClaimedActivity>, Vec<ClaimedActivity>) =
            rows.into_iter().partition(|r| r.attempts > max);
        let mut done: Vec<(ClaimedActivity, Outcome)> = exhausted
            .into_iter()
            .map(|r| {
                let step = Outcome::failed(
                    Rc::AttemptsExhausted,
                    format!("claimed {} times without finishing", r.attempts),
                );
                (r, step)
            })
            .collect();
        // Rows already decided ride along with the first write.
        let mut pending_marks: Vec<Mark> = done.iter().map(|(r, s)| self.mark(r, s)).collect();
        let mut fetched = Fetched::new();
        let mut queue = lanes(live);
        while let Some(chunk) = queue.pop_front() {
            match self.chunk(&chunk, &mut fetched, &pending_marks).await {
                Ok(outcomes) => {
                    pending_marks.clear();
                    for (item, outcome) in chunk.into_iter().zip(outcomes) {
                        done.push((item.row, outcome));
                    }
                }
                Err(e) if e.retry() != Retry::Never => {
                    // Not this chunk's data at fault: put back everything not yet written
                    // that is still ours, and let the loop back off.
                    let mut rest: Vec<ClaimedActivity> = chunk.into_iter().map(|i| i.row).collect();
                    rest.extend(queue.into_iter().flatten().map(|i| i.row));
                    self.release(&rest, &e).await;
                    return Err(e);
                }
                Err(e) if chunk.len() > 1 => {
                    tracing::warn!(error = %e, rows = chunk.len(), "batch write failed; splitting it");
                    let mut left = chunk;
                    let right = left.split_off(left.len() / 2);
                    queue.push_front(right);
                    queue.push_front(left);
                }
                Err(e) => {
                    let Some(item) = chunk.into_iter().next() else {
                        continue;
                    };
                    tracing::warn!(error = %e, id = item.row.id, "activity cannot be written");
                    let step = Outcome::failed(Rc::Internal, format!("write failed: {e}"));
                    let mut marks = std::mem::take(&mut pending_marks);
                    marks.push(self.mark(&item.row, &step));
                    self.write(Changes {
                        journal: marks,
                        ..Changes::default()
                    })
                    .await?;
                    done.push((item.row, step));
                }
            }
        }
        for (_, s) in &done {
            match s {
                Outcome::Done { .. } => report.done += 1,
                Outcome::Ignored(..) => report.ignored += 1,
                Outcome::Failed(..) => report.failed += 1,
                Outcome::Held(..) => report.held += 1,
                Outcome::Retry(..) | Outcome::Need(_) => report.retried += 1,
            }
        }
        // Retries past their attempts were marked failed.
        let gave_up = done
            .iter()
            .filter(|(r, s)| matches!(s, Outcome::Retry(..)) && r.attempts >= max)
            .count();
        report.retried -= gave_up;
        report.failed += gave_up;
        Ok((report, done))
    }

    /// Runs the stages for a chunk and writes it with its marks in one transaction.
    async fn chunk(
        &mut self,
        items: &[ParsedRow],
        fetched: &mut Fetched,
        extra: &[Mark],
    ) -> Result<Vec<Outcome>, DbError> {
        let env = self.env.clone();
        let fetcher = self.fetcher.clone();
        self.unverified.hold_back(items, fetched);
        self.warm_up().await?;
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| DbError::Unavailable("no connection".into()))?;
        let (steps, view) = batch::run(conn, &env, &*fetcher, fetched, &self.policy, items).await?;
        self.unverified.learn(items, &steps);
        let mut changes = view.changes();
        self.batches_gc(&mut changes);
        changes.journal = extra.to_vec();
        for (item, step) in items.iter().zip(&steps) {
            changes.journal.push(self.mark(&item.row, step));
        }
        self.write(changes).await?;
        Ok(steps)
    }

    /// Drops old `ingest_memory` rows every 1000 batches (in the batch's own write).
    fn batches_gc(&self, changes: &mut Changes) {
        changes.memory_gc = self.batches % 1000 == 1;
    }

    async fn write(&mut self, changes: Changes) -> Result<(), DbError> {
        self.warm_up().await?;
        let conn = self.held()?;
        // The statements are built in the closure, before `BEGIN` leaves (see `write`).
        conn.run_tx("ingest_write", move |c| ingest::write::write(c, &changes))
            .await
    }

    /// Puts the rows still leased to us back to `pending` after trouble on our side (best
    /// effort: when the database is gone too, their leases run out instead, or the next
    /// start of this process frees them). Rows whose lease was lost are left to their new
    /// owner, and come back at once: it was not their fault.
    async fn release(&mut self, rows: &[ClaimedActivity], e: &DbError) {
        self.conn = None;
        let retry = e.retry();
        let rc = if retry == Retry::Later {
            Rc::DatabaseUnavailable
        } else {
            Rc::Internal
        };
        let marks: Vec<Mark> = rows
            .iter()
            .map(|r| {
                // Our trouble is never the activity's: it goes back as a retry whatever its
                // attempts (the put-back mark gives the claim's attempt back).
                let mut m = self.mark(r, &Outcome::Retry(rc, e.to_string()));
                m.needs_lease = false;
                m.verdict = Verdict::Retry;
                m.error = Some(e.to_string());
                if retry == Retry::ByNewOwner {
                    m.retry_in = 0.0;
                }
                m
            })
            .collect();
        if let Err(e2) = self
            .write(Changes {
                journal: marks,
                ..Changes::default()
            })
            .await
        {
            tracing::warn!(error = %e2, "could not put the batch back; its leases will expire");
            self.conn = None;
        }
    }

    /// The journal mark for a step: retries past their attempts become failures.
    fn mark(&self, row: &ClaimedActivity, step: &Outcome) -> Mark {
        let s = &self.env.settings;
        let (verdict, rc, msg) = match step {
            Outcome::Done { .. } => (Verdict::Done, None, None),
            Outcome::Ignored(rc, m) => (Verdict::Ignored, Some(*rc), Some(m.clone())),
            Outcome::Failed(rc, m) => (Verdict::Failed, Some(*rc), Some(m.clone())),
            Outcome::Held(m) => (Verdict::Held, Some(Rc::PolicyHeld), Some(m.clone())),
            Outcome::Retry(rc, m) if row.attempts >= s.max_attempts as i32 => (
                Verdict::Failed,
                Some(*rc),
                Some(format!("gave up after {} attempts: {m}", row.attempts)),
            ),
            Outcome::Retry(rc, m) => (Verdict::Retry, Some(*rc), Some(m.clone())),
            Outcome::Need(_) => (
                Verdict::Retry,
                Some(Rc::UnknownObject),
                Some("unresolved references".into()),
            ),
        };
        Mark {
            id: row.id,
            verdict,
            error_code: rc.map(|r| r.code().to_string()),
            error: msg,
            retry_in: s.backoff(row.attempts.max(1) as u32).as_secs_f64(),
            owner: s.node_id.clone(),
            needs_lease: true,
        }
    }
}

/// Renews a batch's leases every third of the lease while the batch runs, on a connection
/// of its own (the batch's stays with the batch, and its round-trips stay the batch's).
/// Stops when dropped. A renewal that fails is retried at the next tick; should the lease
/// run out meanwhile and the rows go to another process, the batch's marks are fenced by
/// the owner and its write aborts ([`DbError::LeaseLost`]).
struct Renewal(tokio::task::JoinHandle<()>);

impl Renewal {
    fn start(db: Db, ids: Vec<i64>, owner: String, lease: Duration) -> Renewal {
        let every = (lease / 3).max(Duration::from_millis(100));
        Renewal(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                match journal::renew(&db, &ids, &owner, lease.as_secs_f64()).await {
                    Ok(n) if n < ids.len() => {
                        tracing::debug!(
                            renewed = n,
                            of = ids.len(),
                            "batch leases renewed in part"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "renewing the batch's leases failed"),
                }
            }
        }))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}
