//! The background probe: everything the request path needs from the database that may be
//! slightly stale, read once per `refresh_interval` in ONE round-trip (policy generation,
//! local actor count, journal depth and lag), with a reload of the policy or the actor
//! names only when their marker moved. The request path reads the results from memory.

use crate::Shared;
use futures::FutureExt;
use sluice_db::{Db, DbError, inbox as q};
use sluice_metrics::global;
use sluice_stage::Shutdown;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Journal pressure as last probed.
#[derive(Debug, Default)]
pub struct Pressure {
    /// Unprocessed rows (counted up to a cap).
    pub depth: std::sync::atomic::AtomicU64,
    /// Age of the oldest untried row, in milliseconds.
    pub lag_ms: std::sync::atomic::AtomicU64,
}

/// Probes once and applies what changed.
pub async fn tick(shared: &Shared) -> Result<(), DbError> {
    // The count is bounded (a bound is all backpressure needs); without a bound, the gauge
    // still counts up to a million.
    let cap = match shared.cfg.backpressure_depth {
        0 => 1_000_000,
        bound => bound.saturating_add(1).min(i64::MAX as u64) as i64,
    };
    let probe = shared
        .db
        .run("inbox_probe", move |c| q::probe(c, cap).boxed())
        .await?;
    shared
        .policy
        .cache
        .at_least(&shared.db, probe.policy_generation)
        .await?;
    if probe.local_actors != shared.local.fingerprint() {
        reload_names(&shared.db, shared, probe.local_actors).await?;
    }
    let lag = probe.lag_seconds.unwrap_or(0.0).max(0.0);
    shared
        .pressure
        .depth
        .store(probe.depth.max(0) as u64, Ordering::Relaxed);
    shared
        .pressure
        .lag_ms
        .store((lag * 1000.0) as u64, Ordering::Relaxed);
    let m = global();
    m.journal_depth.set(probe.depth);
    m.journal_lag_seconds.set(lag);
    m.review_held_activities.set(probe.held);
    Ok(())
}

async fn reload_names(db: &Db, shared: &Shared, fingerprint: i64) -> Result<(), DbError> {
    let (communities, persons) = db
        .run("local_actor_names", |c| q::local_actor_names(c).boxed())
        .await?;
    tracing::debug!(
        communities = communities.len(),
        persons = persons.len(),
        "local actor names loaded"
    );
    shared.local.replace(fingerprint, communities, persons);
    Ok(())
}

/// Runs `tick` every `refresh_interval` until `shutdown`.
pub async fn run(shared: Arc<Shared>, shutdown: Shutdown) {
    let mut timer = tokio::time::interval(shared.cfg.refresh_interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer.tick().await; // the first tick is immediate; `start` already probed
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = timer.tick() => {}
        }
        if let Err(e) = tick(&shared).await {
            tracing::warn!(error = %e, "inbox background probe failed; keeping the last values");
        }
    }
}
