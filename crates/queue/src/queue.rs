//! Starting and stopping the queue.

use crate::config::QueueConfig;
use crate::shared::{QueueState, Registry, Stop};
use crate::signers::Signers;
use crate::{flush, horizon, lease};
use sluice_db::Db;
use sluice_db::leases::NodeId;
use sluice_net::Client;
use sluice_stage::{Handle, Shutdown, Waker};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// What the send queue needs from the rest of the process.
pub struct Deps {
    /// The database.
    pub db: Db,
    /// Outgoing HTTP (deliveries).
    pub client: Client,
}

/// The running send queue of this process. It stops when its shutdown is triggered
/// ([`Queue::handle`] then joins it, [`Queue::shutdown`] does both). Dropping it before it
/// stopped aborts its tasks (the leases then expire and other processes take over).
pub struct Queue {
    shared: Arc<QueueState>,
    tasks: Vec<JoinHandle<()>>,
    flusher: Option<(Shutdown, JoinHandle<()>)>,
}

impl QueueConfig {
    /// Starts the poller, the leaser (whose first heartbeat registers this process as a
    /// node) and the flusher; workers start as the leaser claims instances. They run until
    /// `shutdown`. Call it inside the tokio runtime.
    pub fn start(self, deps: Deps, shutdown: Shutdown) -> Queue {
        let node = NodeId {
            id: format!(
                "{}-{}-{:08x}",
                hostname(),
                std::process::id(),
                rand::random::<u32>()
            ),
            hostname: hostname(),
            pid: std::process::id() as i32,
        };
        let shared = Arc::new(QueueState {
            signers: Arc::new(Signers::new(deps.db.clone())),
            db: deps.db,
            client: deps.client,
            cfg: self,
            node,
            registry: Mutex::new(Registry::default()),
            horizon: watch::Sender::new(0),
            lease_deadline: watch::Sender::new(None),
            flush_now: Notify::new(),
            poll_now: Waker::kept(),
            claim_now: Notify::new(),
            shutdown,
            policies: Default::default(),
        });
        tracing::info!(
            node = %shared.node.id,
            window = ?shared.cfg.window,
            "send queue started"
        );
        // The flusher outlives the other tasks: it writes the cursors the draining workers
        // hand over last.
        let flush_stop = Shutdown::new();
        let flusher = tokio::spawn(flush::run(shared.clone(), flush_stop.clone()));
        let tasks = vec![
            tokio::spawn(horizon::run(shared.clone())),
            tokio::spawn(lease::run(shared.clone())),
        ];
        Queue {
            shared,
            tasks,
            flusher: Some((flush_stop, flusher)),
        }
    }
}

impl Queue {
    /// This process's node id (`node.id`, `delivery_state.lease_owner`).
    pub fn node_id(&self) -> &str {
        &self.shared.node.id
    }

    /// Wakes the queue after appending: it delivers at once instead of at the next poll.
    pub fn waker(&self) -> Waker {
        self.shared.poll_now.clone()
    }

    /// The signing-key cache (shared with the publish API).
    pub fn signers(&self) -> Arc<Signers> {
        self.shared.signers.clone()
    }

    /// Instances served by this process now (for tests and status).
    pub fn serving(&self) -> Vec<String> {
        let reg = self.shared.registry();
        let mut v: Vec<String> = reg.workers.values().map(|w| w.domain.clone()).collect();
        v.sort();
        v
    }

    /// The queue as a stage: its handle joins it (see [`Queue::shutdown`] for what stopping
    /// does) and wakes it.
    pub fn handle(self) -> Handle {
        let (shutdown, waker) = (self.shared.shutdown.clone(), self.waker());
        Handle::from_future("send queue", shutdown, self.stopped()).with_waker(waker)
    }

    /// Stops cleanly: workers finish what is in flight and persist their cursors, then every
    /// lease is released (other processes take over at once) and the node is removed.
    /// Bounded by the request timeout plus a few seconds.
    pub async fn shutdown(self) {
        self.shared.shutdown.trigger();
        self.stopped().await
    }

    /// Waits for the shutdown, then stops in the order above.
    async fn stopped(mut self) {
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let workers: Vec<JoinHandle<()>> = {
            let mut reg = self.shared.registry();
            reg.closed = true;
            reg.workers
                .values_mut()
                .filter_map(|w| {
                    let _ = w.stop.send(Stop::Drain);
                    w.task.take()
                })
                .collect()
        };
        let limit = self.shared.client.config().request_timeout + Duration::from_secs(5);
        let drained = futures::future::join_all(workers);
        if tokio::time::timeout(limit, drained).await.is_err() {
            tracing::warn!("send queue: some deliveries did not finish before shutdown");
        }
        if let Some((stop, task)) = self.flusher.take() {
            stop.trigger();
            let _ = task.await;
        }
        if let Err(e) = sluice_db::leases::leave(&self.shared.db, &self.shared.node.id).await {
            tracing::warn!(error = %e, "send queue: cannot release leases at shutdown");
        }
        tracing::info!("send queue stopped");
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some((_, t)) = &self.flusher {
            t.abort();
        }
        let reg = self.shared.registry();
        for w in reg.workers.values() {
            if let Some(t) = &w.task {
                t.abort();
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
