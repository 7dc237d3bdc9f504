//! What the process-wide tasks (horizon poller, leaser, flusher) and the per-instance
//! workers share.

use crate::config::QueueConfig;
use crate::signers::Signers;
use sluice_db::Db;
use sluice_db::delivery::{FailureRow, StateRow};
use sluice_db::leases::NodeId;
use sluice_net::Client;
use sluice_stage::{Shutdown, Waker};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// What a worker is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Deliver.
    Run,
    /// Launch nothing new; finish what is in flight, persist the cursor, exit.
    Drain,
    /// The lease is gone: exit now, write nothing.
    Abandon,
}

/// What the flusher has written for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// The persisted cursor.
    pub cursor: i64,
    /// The newest published state written (see [`Slot::publish`]).
    pub seq: u64,
}

/// The hand-over point between one worker and the flusher.
pub struct Slot {
    /// `instance.id`.
    pub instance_id: i64,
    pending: Mutex<Pending>,
    /// What is written (the flusher sends, the worker watches).
    pub persisted: watch::Sender<Written>,
    /// The worker's in-memory cursor (for the lag gauges).
    pub cursor: AtomicI64,
}

/// A state to write, with the failures given up since the last one.
pub struct Handover {
    /// The state.
    pub state: StateRow,
    /// New `delivery_failure` rows.
    pub failures: Vec<FailureRow>,
    /// Its publication number.
    pub seq: u64,
}

#[derive(Default)]
struct Pending {
    state: Option<StateRow>,
    failures: Vec<FailureRow>,
    seq: u64,
}

impl Slot {
    /// A slot whose persisted cursor is `cursor`.
    pub fn new(instance_id: i64, cursor: i64) -> Self {
        Slot {
            instance_id,
            pending: Mutex::default(),
            persisted: watch::Sender::new(Written { cursor, seq: 0 }),
            cursor: AtomicI64::new(cursor),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The worker hands over its current state and new failures; returns the publication
    /// number to wait for in [`Slot::persisted`].
    pub fn publish(&self, state: StateRow, failures: Vec<FailureRow>) -> u64 {
        self.cursor
            .store(state.last_delivered_id, Ordering::Relaxed);
        let mut p = self.lock();
        p.state = Some(state);
        p.failures.extend(failures);
        p.seq += 1;
        p.seq
    }

    /// The flusher takes what is to write, if anything.
    pub fn take(&self) -> Option<Handover> {
        let mut p = self.lock();
        let state = p.state.take()?;
        Some(Handover {
            state,
            failures: std::mem::take(&mut p.failures),
            seq: p.seq,
        })
    }

    /// A write failed: put it back unless the worker published a newer state meanwhile.
    pub fn restore(&self, h: Handover) {
        let mut p = self.lock();
        if p.state.is_none() {
            p.state = Some(h.state);
        }
        let newer = std::mem::replace(&mut p.failures, h.failures);
        p.failures.extend(newer);
    }

    /// The flusher wrote `h`.
    pub fn written(&self, h: &Handover) {
        self.persisted.send_modify(|w| {
            w.cursor = w.cursor.max(h.state.last_delivered_id);
            w.seq = w.seq.max(h.seq);
        });
    }
}

/// A running worker, as the registry holds it.
pub struct WorkerHandle {
    /// host[:port].
    pub domain: String,
    /// Tells it to stop.
    pub stop: watch::Sender<Stop>,
    /// Highest outbound id known to target the instance (wakes it up).
    pub hint: watch::Sender<i64>,
    /// Its hand-over slot.
    pub slot: Arc<Slot>,
    /// Its task.
    pub task: Option<JoinHandle<()>>,
    /// Distinguishes successive workers of one instance.
    pub generation: u64,
}

/// The workers of this process.
#[derive(Default)]
pub struct Registry {
    /// By instance id.
    pub workers: HashMap<i64, WorkerHandle>,
    /// Instances being drained before their lease is released.
    pub releasing: HashSet<i64>,
    /// Next worker generation.
    pub next_generation: u64,
    /// Shutting down: no new workers.
    pub closed: bool,
}

impl Registry {
    /// Tells the worker of `instance` its lease is gone and forgets it.
    pub fn abandon(&mut self, instance: i64) {
        if let Some(w) = self.workers.remove(&instance) {
            let _ = w.stop.send(Stop::Abandon);
            tracing::info!(instance = %w.domain, "delivery lease lost; worker stopped");
        }
    }
}

/// Everything the queue's tasks share.
pub struct QueueState {
    /// The database.
    pub db: Db,
    /// Outgoing HTTP.
    pub client: Client,
    /// Local signing keys.
    pub signers: Arc<Signers>,
    /// Settings.
    pub cfg: QueueConfig,
    /// This process in the `node` table.
    pub node: NodeId,
    /// Workers.
    pub registry: Mutex<Registry>,
    /// Highest outbound id below which every id is settled.
    pub horizon: watch::Sender<i64>,
    /// Until when this node's leases are surely still held (local clock).
    pub lease_deadline: watch::Sender<Option<Instant>>,
    /// Asks the flusher to write now.
    pub flush_now: Notify,
    /// Asks the poller to look for new work now (the queue's waker).
    pub poll_now: Waker,
    /// Asks the leaser to claim now.
    pub claim_now: Notify,
    /// Triggered when the queue shuts down.
    pub shutdown: Shutdown,
    /// The instance-policy table, as of the newest fetch.
    pub policies: sluice_db::policy_cache::PolicyCache,
}

impl QueueState {
    /// The registry, locked (never held across an await).
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Metric label for a peer host.
    pub fn label(domain: &str) -> String {
        sluice_metrics::global().hosts.label(domain)
    }
}
