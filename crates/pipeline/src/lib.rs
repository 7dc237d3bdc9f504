//! The ingestion pipeline: from the received-activity journal to the threadiverse tables,
//! a few database round-trips per batch instead of twenty per activity.
//!
//! A [`Processor`] claims up to `batch_size` due journal rows (in journal order; leased, so
//! several sluice processes share one journal without doing a row twice) and runs them
//! through named stages:
//!
//! 1. **parse** every row (`sluice_apub::vocab`);
//! 2. **look up** everything they refer to in one pipelined round of queries keyed by
//!    ActivityPub ids (`sluice_db::ingest::lookup`);
//! 3. **fetch** what is missing from remote servers, concurrently and once per URL across
//!    the batch (through [`Fetch`]), looking up and fetching again for what fetched
//!    documents refer to, a bounded number of rounds;
//! 4. **apply** the activities in journal order to an in-memory view (so several activities
//!    about one object end as they would one by one) with Lemmy's semantics;
//! 5. **write** the view's final state in one transaction of multi-row statements, with the
//!    outbound activities it produced (Accepts, community Announces) and the journal marks
//!    (`done`, `ignored` or `failed` with an `rc`, or back to `pending` with backoff).
//!
//! A batch of known activities costs four round-trips: claim 1, lookup 1, write 2.
//! [`Pipeline::spawn`] runs processors until shutdown, letting the current batch finish.

#![deny(missing_docs)]

mod apply;
mod batch;
mod ctx;
pub mod fetch;
mod forwarded;
mod keys;
mod metrics;
mod outcome;
mod policy;
mod processor;
pub mod published;
mod relay;
pub mod settings;
mod view;

pub use fetch::{Disabled, Fetch, FetchFailure, NetFetcher};
pub use processor::{BatchReport, Processor};
pub use published::{Effect, LocalEffects};
pub use settings::Settings;

use sluice_apub::LocalUrls;
use sluice_db::Db;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The running pipeline.
pub struct Pipeline {
    wake: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts `workers` processors (each with its own connection and lease owner name) that
    /// run until `shutdown` is cancelled; the batch in progress then finishes first.
    pub fn spawn(
        db: Db,
        settings: Settings,
        workers: usize,
        fetcher: Arc<dyn Fetch>,
        urls: LocalUrls,
        shutdown: CancellationToken,
    ) -> Pipeline {
        let wake = Arc::new(Notify::new());
        let tasks = (0..workers.max(1))
            .map(|n| {
                let mut s = settings.clone();
                if n > 0 {
                    s.node_id = format!("{}-{n}", s.node_id);
                }
                let p = Processor::new(db.clone(), s.clone(), fetcher.clone(), urls.clone());
                tokio::spawn(run(p, s, wake.clone(), shutdown.clone()))
            })
            .collect();
        Pipeline { wake, tasks }
    }

    /// Wakes idle processors now (the receiver calls it after committing activities).
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// A handle that wakes the processors, for components that outlive `&self`.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Waits until every processor has stopped.
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn run(mut p: Processor, s: Settings, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        // Registered before the claim: a wake-up that comes between an empty claim and the
        // wait below (`notify_waiters` keeps no permit) is not lost.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let pause = match p.run_once().await {
            Ok(r) if r.claimed > 0 => {
                failures = 0;
                tracing::debug!(?r, "batch processed");
                continue;
            }
            Ok(_) => {
                failures = 0;
                s.idle_poll
            }
            Err(e) => {
                failures += 1;
                let pause = Duration::from_millis(250 * 2u64.pow(failures.min(7)));
                tracing::warn!(error = %e, retry_in = ?pause, "pipeline batch failed");
                pause
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = notified => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
