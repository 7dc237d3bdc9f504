//! The leaser: this process's heartbeat, which instances it serves, and its share of them.
//!
//! Every `lease_ttl / 3` (or at once when the poller finds work for an instance nobody here
//! serves) one round-trip records the node as alive, renews every lease it holds, claims free
//! or expired leases up to its fair share (active instances / live nodes, rounded up), and
//! counts both. Then:
//! - a worker whose lease was not renewed (taken over, or revived by an admin) is stopped;
//! - a claimed instance gets a worker, starting from its persisted state;
//! - above the fair share (another node joined), the excess workers drain, persist their
//!   cursors, and only then give their leases up, so the next owner starts where they ended;
//! - the lag gauges of the instances served here are refreshed, and dead instances that sent
//!   us an activity since the last look are revived.
//!
//! Workers stop launching when the last successful heartbeat is older than the lease (the
//! database may be unreachable and another node may have taken over): see `lease_deadline`.

use crate::shared::{QueueState, Slot, Stop, WorkerHandle};
use crate::worker::{self, Start};
use sluice_db::delivery;
use sluice_db::leases::{self, ClaimedLease};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most instances claimed per heartbeat (spreads worker start-up after a takeover).
const CLAIM_PER_ROUND: i64 = 500;
/// Most queued activities counted per instance for the lag gauge.
const LAG_COUNT_CAP: i64 = 1_000_000;

/// Runs until shutdown.
pub async fn run(shared: Arc<QueueState>) {
    let mut journal_seen: Option<i64> = None;
    let mut labels: HashSet<String> = HashSet::new();
    let mut failing = false;
    let mut last_claim = Instant::now() - Duration::from_secs(60);
    loop {
        let sent_at = Instant::now();
        match leases::heartbeat(
            &shared.db,
            &shared.node,
            shared.cfg.lease_ttl,
            CLAIM_PER_ROUND,
        )
        .await
        {
            Ok(hb) => {
                failing = false;
                // Conservative: the lease was renewed no earlier than when we asked.
                let margin = shared.cfg.lease_ttl / 10;
                shared
                    .lease_deadline
                    .send_replace(Some(sent_at + shared.cfg.lease_ttl - margin));
                let share = hb.fair_share();
                reconcile(&shared, &hb.renewed).await;
                for c in hb.claimed {
                    spawn_worker(&shared, c);
                }
                rebalance(&shared, share);
                refresh_lag(&shared, &mut labels).await;
                revive(&shared, &mut journal_seen).await;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "send queue: heartbeat failed");
                }
                failing = true;
            }
        }
        let beat = shared.cfg.heartbeat_interval();
        tokio::select! {
            _ = tokio::time::sleep(beat) => {}
            _ = shared.claim_now.notified() => {
                // At most one early round per second.
                let next = last_claim + Duration::from_secs(1);
                tokio::time::sleep_until(next.max(Instant::now()).into()).await;
            }
            _ = shared.shutdown.triggered() => return,
        }
        last_claim = Instant::now();
    }
}

/// Stops workers whose lease is gone; releases leases held without a worker.
async fn reconcile(shared: &QueueState, renewed: &[i64]) {
    let renewed: HashSet<i64> = renewed.iter().copied().collect();
    let orphans: Vec<i64> = {
        let mut reg = shared.registry();
        let gone: Vec<i64> = reg
            .workers
            .keys()
            .filter(|id| !renewed.contains(id))
            .copied()
            .collect();
        for id in gone {
            reg.abandon(id);
        }
        renewed
            .iter()
            .filter(|id| !reg.workers.contains_key(id) && !reg.releasing.contains(id))
            .copied()
            .collect()
    };
    if !orphans.is_empty()
        && let Err(e) = leases::release(&shared.db, &shared.node.id, &orphans).await
    {
        tracing::warn!(error = %e, "send queue: cannot release leases");
    }
}

/// Starts the worker of a just-claimed instance.
fn spawn_worker(shared: &Arc<QueueState>, claimed: ClaimedLease) {
    let mut reg = shared.registry();
    if reg.closed {
        return;
    }
    let id = claimed.instance_id;
    reg.abandon(id);
    reg.next_generation += 1;
    let generation = reg.next_generation;
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    // The current horizon as the first hint: the worker reads from its cursor once.
    let (hint_tx, hint_rx) = watch::channel(*shared.horizon.borrow());
    let slot = Arc::new(Slot::new(id, claimed.last_delivered_id));
    let domain = claimed.domain.clone();
    let start = Start {
        claimed,
        stop: stop_rx,
        hint: hint_rx,
        slot: slot.clone(),
        generation,
    };
    let task = tokio::spawn(worker::run(shared.clone(), start));
    reg.workers.insert(
        id,
        WorkerHandle {
            domain,
            stop: stop_tx,
            hint: hint_tx,
            slot,
            task: Some(task),
            generation,
        },
    );
}

/// Above the fair share: drain the excess (idle ones first), then release their leases.
fn rebalance(shared: &Arc<QueueState>, share: i64) {
    let mut reg = shared.registry();
    let serving = reg.workers.len() as i64 - reg.releasing.len() as i64;
    let excess = serving - share;
    if excess <= 0 || reg.closed {
        return;
    }
    let mut candidates: Vec<(bool, i64)> = reg
        .workers
        .iter()
        .filter(|(id, _)| !reg.releasing.contains(id))
        .map(|(id, w)| {
            let busy = *w.hint.borrow() > w.slot.cursor.load(Ordering::Relaxed);
            (busy, *id)
        })
        .collect();
    candidates.sort();
    for (_, id) in candidates.into_iter().take(excess as usize) {
        let Some(w) = reg.workers.get_mut(&id) else {
            continue;
        };
        let _ = w.stop.send(Stop::Drain);
        let task = w.task.take();
        tracing::info!(instance = %w.domain, "handing the instance over to another process");
        reg.releasing.insert(id);
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Some(t) = task {
                let _ = t.await;
            }
            if let Err(e) = leases::release(&shared.db, &shared.node.id, &[id]).await {
                tracing::warn!(error = %e, "send queue: cannot release a lease");
            }
            shared.registry().releasing.remove(&id);
        });
    }
}

/// Sets the queue-lag gauges of the instances served here (summed per host label).
async fn refresh_lag(shared: &QueueState, labels: &mut HashSet<String>) {
    let (cursors, domains): (Vec<(i64, i64)>, HashMap<i64, String>) = {
        let reg = shared.registry();
        reg.workers
            .iter()
            .map(|(id, w)| {
                (
                    (*id, w.slot.cursor.load(Ordering::Relaxed)),
                    (*id, w.domain.clone()),
                )
            })
            .unzip()
    };
    let rows = match delivery::lag(&shared.db, &cursors, LAG_COUNT_CAP).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "send queue: cannot read the lag");
            return;
        }
    };
    let mut per_label: HashMap<String, (i64, f64)> = HashMap::new();
    for (id, lag, secs) in rows {
        let Some(domain) = domains.get(&id) else {
            continue;
        };
        let e = per_label.entry(QueueState::label(domain)).or_default();
        e.0 += lag;
        e.1 = e.1.max(secs);
    }
    let m = sluice_metrics::global();
    for old in labels.iter().filter(|l| !per_label.contains_key(*l)) {
        let _ = m.queue_lag_activities.remove_label_values(&[old]);
        let _ = m.queue_lag_seconds.remove_label_values(&[old]);
    }
    for (label, (lag, secs)) in &per_label {
        m.queue_lag_activities.with_label_values(&[label]).set(*lag);
        m.queue_lag_seconds.with_label_values(&[label]).set(*secs);
    }
    *labels = per_label.into_keys().collect();
}

/// Dead instances that sent us something since the last look become active again. While
/// none is dead the journal is not read, only its newest id noted.
async fn revive(shared: &QueueState, seen: &mut Option<i64>) {
    let (any_dead, newest) = match delivery::revival_check(&shared.db).await {
        Ok(r) => r,
        Err(_) => return,
    };
    let from = match *seen {
        Some(from) if any_dead => from,
        _ => {
            *seen = Some(newest);
            return;
        }
    };
    match delivery::revive_from_journal(&shared.db, from).await {
        Ok((revived, upto)) => {
            *seen = Some(upto);
            for d in &revived {
                tracing::info!(instance = %d, "dead instance sent us an activity: delivering again");
            }
            if !revived.is_empty() {
                shared.claim_now.notify_one();
            }
        }
        Err(e) => tracing::debug!(error = %e, "send queue: cannot check for revived instances"),
    }
}
