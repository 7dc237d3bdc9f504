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
//! [`PipelineConfig::start`] runs processors until shutdown, letting the current batch finish.

#![deny(missing_docs)]

mod apply;
mod batch;
mod ctx;
pub mod fetch;
mod forwarded;
mod materialize;
mod memory;
mod metrics;
mod outcome;
mod policy;
mod processor;
pub mod published;
mod references;
mod relay;
mod resolve;
mod rules;
pub mod settings;
mod sizing;
mod view;

pub use fetch::{Disabled, Fetch, FetchFailure, NetFetcher};
pub use processor::{BatchReport, Processor};
pub use published::{Effect, LocalEffects};
pub use settings::PipelineConfig;

use sluice_apub::LocalUrls;
use sluice_db::Db;
use sluice_stage::{Handle, Shutdown, Waker};
use std::sync::Arc;
use std::time::Duration;

/// What the pipeline needs from the rest of the process.
pub struct Deps {
    /// The database.
    pub db: Db,
    /// Remote documents (`NetFetcher` in production).
    pub fetcher: Arc<dyn Fetch>,
    /// Our ids.
    pub urls: LocalUrls,
}

impl PipelineConfig {
    /// Starts `workers` processors (each with its own connection and lease owner name) that
    /// run until `shutdown`; the batch in progress then finishes and commits first. The
    /// handle's waker wakes idle processors (the receiver's, after it journals).
    pub fn start(self, deps: Deps, shutdown: Shutdown) -> Handle {
        let wake = Waker::waiting();
        let tasks = (0..self.workers.max(1))
            .map(|n| {
                let mut s = self.clone();
                if n > 0 {
                    s.node_id = format!("{}-{n}", s.node_id);
                }
                let p = Processor::new(
                    deps.db.clone(),
                    s.clone(),
                    deps.fetcher.clone(),
                    deps.urls.clone(),
                );
                tokio::spawn(run(p, s, wake.clone(), shutdown.clone()))
            })
            .collect();
        Handle::new("pipeline", shutdown, tasks).with_waker(wake)
    }
}

async fn run(mut p: Processor, s: PipelineConfig, wake: Waker, shutdown: Shutdown) {
    let mut failures: u32 = 0;
    while !shutdown.is_triggered() {
        // Registered before the claim: a wake-up that comes between an empty claim and the
        // wait below (the waker keeps no permit) is not lost.
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
            _ = shutdown.triggered() => break,
            _ = notified => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
