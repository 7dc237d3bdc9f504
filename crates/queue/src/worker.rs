//! One remote instance's worker: fetch in outbound-id order, deliver through the window
//! (its limit read from the instance's concurrency before each launch, which every answer
//! feeds: `crate::concurrency`), back off on failure, hand the state to the flusher.
//!
//! Failure steps: a transient failure of an attempt launched in the current failure epoch
//! counts one step (fail_count + 1, a new backoff) and starts a new epoch; failures of
//! attempts launched before it (the rest of the window, failing for the same reason) only
//! extend the wait to their `Retry-After`. Any finished delivery (2xx, or a 4xx drop: the
//! peer answers) ends the failing streak. A streak older than `dead_after` marks the
//! instance dead: the worker writes that and exits, and its lease is released.

use crate::backoff::{Outcome, honoured, wait_after};
use crate::concurrency::Concurrency;
use crate::deliver::{Attempt, attempt};
use crate::policy;
use crate::shared::{QueueState, Slot, Stop, Written};
use crate::window::{Delivery, Launch, Window};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use sluice_apub::Rc;
use sluice_db::delivery::{self, FailureRow, StateRow};
use sluice_db::leases::ClaimedLease;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What a worker starts from.
pub struct Start {
    /// The lease just claimed, with the persisted state.
    pub claimed: ClaimedLease,
    /// Stop requests.
    pub stop: watch::Receiver<Stop>,
    /// New-work hints.
    pub hint: watch::Receiver<i64>,
    /// Hand-over to the flusher.
    pub slot: Arc<Slot>,
    /// This worker's generation (to deregister only itself).
    pub generation: u64,
}

struct Health {
    fail_count: u32,
    epoch: u64,
    first_failure_at: Option<DateTime<Utc>>,
    next_retry_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    dead: bool,
}

struct Worker {
    shared: Arc<QueueState>,
    id: i64,
    domain: String,
    label: String,
    window: Window,
    concurrency: Concurrency,
    gauge: WindowGauge,
    fetched_to: i64,
    more: bool,
    /// Attempts on the wire, with their concurrency tickets.
    in_flight: FuturesUnordered<BoxFuture<'static, (u64, Attempt)>>,
    health: Health,
    failures: Vec<FailureRow>,
    dirty: bool,
    stop: watch::Receiver<Stop>,
    hint: watch::Receiver<i64>,
    persisted: watch::Receiver<Written>,
    lease: watch::Receiver<Option<Instant>>,
    horizon: watch::Receiver<i64>,
    slot: Arc<Slot>,
}

/// Runs a worker until it is stopped, loses its lease, or its instance is dead.
pub async fn run(shared: Arc<QueueState>, start: Start) {
    let c = start.claimed;
    let (id, generation) = (c.instance_id, start.generation);
    let concurrency = shared.cfg.window.concurrency();
    let label = QueueState::label(&c.domain);
    let mut w = Worker {
        id,
        gauge: WindowGauge::new(&label, concurrency.limit()),
        label,
        domain: c.domain,
        window: Window::new(concurrency.max(), c.last_delivered_id),
        concurrency,
        fetched_to: c.last_delivered_id,
        more: false,
        in_flight: FuturesUnordered::new(),
        health: Health {
            fail_count: c.fail_count.max(0) as u32,
            epoch: 0,
            first_failure_at: c.first_failure_at,
            next_retry_at: c.next_retry_at,
            last_success_at: c.last_success_at,
            last_failure_at: c.last_failure_at,
            last_error: c.last_error,
            dead: false,
        },
        failures: Vec::new(),
        dirty: false,
        stop: start.stop,
        hint: start.hint,
        persisted: start.slot.persisted.subscribe(),
        lease: shared.lease_deadline.subscribe(),
        horizon: shared.horizon.subscribe(),
        slot: start.slot,
        shared: shared.clone(),
    };
    tracing::debug!(instance = %w.domain, cursor = c.last_delivered_id, "delivery worker started");
    w.run().await;
    let mut reg = shared.registry();
    if reg
        .workers
        .get(&id)
        .is_some_and(|h| h.generation == generation)
    {
        reg.workers.remove(&id);
    }
}

impl Worker {
    async fn run(&mut self) {
        loop {
            let stop = *self.stop.borrow();
            match stop {
                Stop::Abandon => return,
                Stop::Drain if self.in_flight.is_empty() => return self.finish().await,
                _ if self.health.dead => {
                    // Their outcomes would come after the final cursor: dropped now rather
                    // than after `finish`, so that none sits on a pool connection handed to
                    // it meanwhile (see `driving`) while the flusher needs one.
                    self.in_flight.clear();
                    return self.finish().await;
                }
                _ => {}
            }
            if stop == Stop::Run {
                let mut in_flight = std::mem::take(&mut self.in_flight);
                let mut ended = Vec::new();
                let read = driving(&mut in_flight, &mut ended, self.refill()).await;
                if let Err(e) = &read {
                    tracing::warn!(instance = %self.domain, error = %e, "cannot read the outbound log");
                    let stop = &mut self.stop;
                    let pause = async {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = stop.changed() => {}
                        }
                    };
                    driving(&mut in_flight, &mut ended, pause).await;
                }
                self.in_flight = in_flight;
                for (ticket, a) in ended {
                    self.on_attempt(ticket, a);
                }
                if read.is_err() {
                    continue;
                }
                self.launch();
            }
            if self.dirty {
                let _ = self.publish();
            }
            if self.window.needs_flush() {
                self.shared.flush_now.notify_one();
            }
            if !self.wait().await {
                return;
            }
        }
    }

    /// Waits for something to happen; false when the worker must exit now.
    async fn wait(&mut self) -> bool {
        let backoff = self.backoff_remaining();
        tokio::select! {
            Some((ticket, a)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                self.on_attempt(ticket, a)
            }
            _ = tokio::time::sleep(backoff.unwrap_or_default()), if backoff.is_some() => {}
            r = self.hint.changed() => return r.is_ok(),
            r = self.stop.changed() => return r.is_ok(),
            r = self.persisted.changed() => {
                if r.is_err() {
                    return false;
                }
                let upto = self.persisted.borrow_and_update().cursor;
                self.window.persisted(upto);
            }
            r = self.lease.changed() => return r.is_ok(),
        }
        true
    }

    fn backoff_remaining(&self) -> Option<Duration> {
        let at = self.health.next_retry_at?;
        (at - Utc::now()).to_std().ok().filter(|d| !d.is_zero())
    }

    fn lease_valid(&self) -> bool {
        self.lease.borrow().is_some_and(|d| Instant::now() < d)
    }

    /// Reads more of the log when the window runs low and there is more to read.
    async fn refill(&mut self) -> Result<(), sluice_db::DbError> {
        let batch = self
            .shared
            .cfg
            .fetch_batch
            .max(2 * self.shared.cfg.window.max());
        let hinted = *self.hint.borrow_and_update() > self.fetched_to;
        if self.window.queued() >= batch / 2 || !(self.more || hinted) {
            return Ok(());
        }
        let upto = *self.horizon.borrow();
        if upto <= self.fetched_to {
            return Ok(());
        }
        let rows = delivery::fetch(
            &self.shared.db,
            self.id,
            self.fetched_to,
            upto,
            batch as i64,
        )
        .await?;
        let refused = match rows.first() {
            Some(p) => {
                let table = self
                    .shared
                    .policies
                    .at_least(&self.shared.db, p.policy_generation)
                    .await?;
                !policy::decide(&table, &self.domain).admits()
            }
            None => false,
        };
        self.more = rows.len() == batch;
        self.fetched_to = match (self.more, rows.last()) {
            (true, Some(last)) => last.id,
            _ => upto,
        };
        let items: Vec<Delivery> = rows
            .into_iter()
            .map(|p| {
                let (inboxes, foreign) = policy::own_inboxes(&self.domain, p.inboxes);
                self.refuse_foreign(p.id, foreign);
                Delivery {
                    id: p.id,
                    activity_id: p.activity_id,
                    actor: p.actor_ap_id,
                    object: p.object_ap_id,
                    body: Bytes::from(p.raw),
                    refused: refused || inboxes.is_empty(),
                    inboxes,
                }
            })
            .collect();
        self.window.extend(items);
        Ok(())
    }

    /// Records inboxes of another host as given up (never sent to), with their rc.
    fn refuse_foreign(&mut self, outbound_id: i64, foreign: Vec<String>) {
        for inbox in foreign {
            tracing::info!(instance = %self.domain, outbound = outbound_id, inbox,
                rc = %Rc::InboxForeignHost, "not sent: inbox not on the instance's host");
            sluice_metrics::global()
                .delivery_failures_total
                .with_label_values(&[&self.label, "foreign_inbox"])
                .inc();
            self.failures.push(FailureRow {
                outbound_id,
                instance_id: self.id,
                error: format!("{inbox} is not on {}", self.domain),
                inbox,
                status: None,
                error_code: Rc::InboxForeignHost.code().to_string(),
            });
            self.dirty = true;
        }
    }

    fn launch(&mut self) {
        if self.backoff_remaining().is_some() || !self.lease_valid() {
            return;
        }
        // A block may have landed since these activities were fetched.
        if !policy::decide(&self.shared.policies.policies(), &self.domain).admits() {
            let recalled = self.window.recall();
            if recalled > 0 {
                tracing::info!(instance = %self.domain, recalled, "retries recalled: the instance is now refused by policy");
                sluice_metrics::global()
                    .delivery_failures_total
                    .with_label_values(&[&self.label, "blocked"])
                    .inc_by(recalled as u64);
                self.dirty = true;
            }
        }
        self.window.set_limit(self.concurrency.limit());
        while let Some(step) = self.window.next(self.health.epoch) {
            match step {
                Launch::Skipped(id) => {
                    tracing::debug!(instance = %self.domain, outbound = id, "not sent: refused by policy");
                    sluice_metrics::global()
                        .delivery_failures_total
                        .with_label_values(&[&self.label, "blocked"])
                        .inc();
                    self.dirty = true;
                }
                Launch::Send(item) => {
                    let ticket = self.concurrency.launched(self.window.occupancy());
                    let (client, signers) =
                        (self.shared.client.clone(), self.shared.signers.clone());
                    let sent = attempt(client, signers, item, self.label.clone());
                    self.in_flight
                        .push(Box::pin(sent.map(move |a| (ticket, a))));
                }
            }
        }
    }

    fn on_attempt(&mut self, ticket: u64, a: Attempt) {
        let now = Utc::now();
        for signal in &a.signals {
            self.concurrency.observe(ticket, *signal);
        }
        self.gauge.set(self.concurrency.limit());
        let mut remaining = Vec::new();
        let mut transient: Option<(Option<Duration>, String)> = None;
        let mut delivered = false;
        for (inbox, outcome) in a.results {
            match outcome {
                Outcome::Delivered => delivered = true,
                Outcome::Retry {
                    retry_after, error, ..
                } => {
                    let longest = transient.as_ref().and_then(|t| t.0).max(retry_after);
                    transient = Some((longest, error));
                    remaining.push(inbox);
                }
                Outcome::Drop {
                    rc, status, error, ..
                } => self.failures.push(FailureRow {
                    outbound_id: a.id,
                    instance_id: self.id,
                    inbox,
                    status: status.map(i32::from),
                    error_code: rc.code().to_string(),
                    error,
                }),
            }
        }
        let launched_in = self.window.complete(a.id, remaining);
        self.dirty = true;
        let h = &mut self.health;
        if delivered {
            h.last_success_at = Some(now);
        }
        let Some((retry_after, error)) = transient else {
            // The peer answered: the failing streak (if any) is over.
            h.fail_count = 0;
            h.first_failure_at = None;
            return;
        };
        h.last_failure_at = Some(now);
        h.last_error = Some(error);
        if launched_in == Some(h.epoch) {
            h.epoch += 1;
            h.fail_count += 1;
            let since = *h.first_failure_at.get_or_insert(now);
            let wait = wait_after(h.fail_count, retry_after);
            h.next_retry_at = Some(now + wait);
            if (now - since).to_std().unwrap_or_default() >= self.shared.cfg.dead_after {
                h.dead = true;
                tracing::warn!(instance = %self.domain, since = %since, "instance marked dead: no successful delivery for too long");
            }
        } else if retry_after.is_some() {
            let later = now + honoured(retry_after);
            h.next_retry_at = Some(h.next_retry_at.map_or(later, |t| t.max(later)));
        }
    }

    fn publish(&mut self) -> u64 {
        let h = &self.health;
        let state = StateRow {
            instance_id: self.id,
            last_delivered_id: self.window.cursor(),
            fail_count: h.fail_count.min(i32::MAX as u32) as i32,
            next_retry_at: h.next_retry_at,
            first_failure_at: h.first_failure_at,
            last_success_at: h.last_success_at,
            last_failure_at: h.last_failure_at,
            last_error: h.last_error.clone(),
            state: if h.dead { "dead" } else { "active" }.to_string(),
        };
        self.dirty = false;
        self.slot.publish(state, std::mem::take(&mut self.failures))
    }

    /// Last words: hand over the final state and wait (bounded) until it is written.
    async fn finish(&mut self) {
        let seq = self.publish();
        self.shared.flush_now.notify_one();
        let cursor = self.window.cursor();
        let limit = self.shared.cfg.flush_interval * 2 + Duration::from_secs(5);
        let written = self.persisted.wait_for(|w| w.seq >= seq);
        if tokio::time::timeout(limit, written).await.is_err() {
            tracing::warn!(instance = %self.domain, cursor, "stopping without the final cursor written");
        }
        tracing::debug!(instance = %self.domain, cursor, "delivery worker stopped");
    }
}

/// Runs `work` while the deliveries in flight keep moving; those that end meanwhile are
/// put in `ended`. An attempt is a future of the worker's task, polled only while the task
/// polls it: one parked behind the worker's own database read would sit on whatever was
/// handed to it meanwhile, a pool connection included (the pool hands a freed connection
/// to the longest waiter and wakes it). With every worker reading at once, the connections
/// handed to parked attempts are neither used nor returned, and the pool is dead for
/// everyone: the inbox answers 503 `DatabaseUnavailable` while PostgreSQL sits idle.
async fn driving<F: Future, T>(
    in_flight: &mut FuturesUnordered<F>,
    ended: &mut Vec<F::Output>,
    work: impl Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            biased;
            r = &mut work => return r,
            Some(a) = in_flight.next(), if !in_flight.is_empty() => ended.push(a),
        }
    }
}

/// This worker's share of `sluice_delivery_window` (its host label's gauge may be shared with
/// other hosts, `other`): added while it runs, taken back when it ends.
struct WindowGauge {
    gauge: sluice_metrics::prometheus::IntGauge,
    value: i64,
}

impl WindowGauge {
    fn new(label: &str, limit: usize) -> Self {
        let gauge = sluice_metrics::global()
            .delivery_window
            .with_label_values(&[label]);
        let mut g = WindowGauge { gauge, value: 0 };
        g.set(limit);
        g
    }

    fn set(&mut self, limit: usize) {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.gauge.add(limit - self.value);
        self.value = limit;
    }
}

impl Drop for WindowGauge {
    fn drop(&mut self) {
        self.gauge.sub(self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    /// The pool's shape in one permit: an attempt queued for the connection first, then the
    /// worker's own read. The freed connection goes to the attempt; unless the attempt is
    /// polled while the read waits, neither ever gets it (the read's checkout timeout is
    /// the deadlock showing, not a speed: with the attempt polled it is never reached).
    #[tokio::test]
    async fn a_connection_handed_to_an_attempt_reaches_it_while_the_worker_reads() {
        let pool = Arc::new(Semaphore::new(1));
        let held = pool.clone().acquire_owned().await.unwrap();
        let mut in_flight = FuturesUnordered::new();
        let p = pool.clone();
        in_flight.push(Box::pin(async move {
            drop(p.acquire().await.unwrap());
            "delivered"
        }));
        // The attempt queues for the connection before the read does.
        assert!(futures::poll!(in_flight.next()).is_pending());
        let read = async {
            tokio::time::timeout(Duration::from_secs(5), pool.acquire())
                .await
                .map(drop)
        };
        drop(held);
        let mut ended = Vec::new();
        let r = driving(&mut in_flight, &mut ended, read).await;
        assert!(r.is_ok(), "the worker's read never got the connection");
        assert_eq!(ended, vec!["delivered"]);
    }
}
