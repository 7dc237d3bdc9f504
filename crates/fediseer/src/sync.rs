//! One sync (fetch every list, plan, apply in one transaction) and the background task
//! that runs it every interval until shutdown.
//!
//! A sync is all or nothing: any list that cannot be read (the Fediseer unreachable, a
//! 5xx, a body that is not a list) fails the whole sync, and the entries in force stay as
//! they were. Applying half the lists would withdraw the entries of the lists missing.

use crate::api::{self, ApiError, Given, Kind};
use crate::{FediseerConfig, Hesitations, plan};
use sluice_db::synced_policy::{self, Applied};
use sluice_db::{Db, DbError};
use sluice_metrics::global;
use sluice_net::Client;
use sluice_stage::{Handle, Shutdown};
use std::time::{Duration, SystemTime};

/// Why a sync applied nothing.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A list could not be read.
    #[error(transparent)]
    Fediseer(#[from] ApiError),
    /// Our database failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
}

/// Every list the settings ask for, one giver at a time (the Fediseer rate-limits each
/// path, and a sync is rare).
pub async fn fetch_all(client: &Client, settings: &FediseerConfig) -> Result<Vec<Given>, ApiError> {
    let mut asks: Vec<(Kind, &str)> = Vec::new();
    asks.extend(
        settings
            .feelers
            .iter()
            .map(|f| (Kind::Endorsement, f.as_str())),
    );
    asks.extend(
        settings
            .censure_sources
            .iter()
            .map(|s| (Kind::Censure, s.as_str())),
    );
    if settings.hesitations == Hesitations::Block {
        asks.extend(
            settings
                .censure_sources
                .iter()
                .map(|s| (Kind::Hesitation, s.as_str())),
        );
    }
    let mut lists = Vec::with_capacity(asks.len());
    for (kind, by) in asks {
        lists.push(api::given(client, &settings.url, kind, by).await?);
    }
    Ok(lists)
}

/// Runs one sync now, whatever the lease says (`sluice fediseer sync`, and the task once
/// it holds the lease). Failures are recorded for `sluice doctor` and counted.
pub async fn run_once(
    db: &Db,
    client: &Client,
    settings: &FediseerConfig,
    own_domain: &str,
) -> Result<Applied, SyncError> {
    let result = async {
        let lists = fetch_all(client, settings).await?;
        let entries = plan::plan(settings, &lists, own_domain);
        Ok::<_, SyncError>(synced_policy::apply(db, entries).await?)
    }
    .await;
    let m = global();
    match &result {
        Ok(applied) => {
            m.fediseer_sync_total.with_label_values(&["ok"]).inc();
            let now = SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default();
            m.fediseer_last_success_timestamp_seconds
                .set(now.as_secs_f64());
            m.fediseer_entries
                .with_label_values(&["allow"])
                .set(applied.allows.into());
            m.fediseer_entries
                .with_label_values(&["block"])
                .set(applied.blocks.into());
            if applied.changed() {
                tracing::info!(set = ?applied.set, withdrawn = ?applied.cleared,
                    "Fediseer sync changed the instance policy");
            }
        }
        Err(e) => {
            m.fediseer_sync_total.with_label_values(&["failed"]).inc();
            tracing::warn!(error = %e, "Fediseer sync failed; the synced entries stay as they were");
            if let Err(db_error) = synced_policy::record_failure(db, &e.to_string()).await {
                tracing::warn!(error = %db_error, "could not record the failed Fediseer sync");
            }
        }
    }
    result
}

/// What the sync needs from the rest of the process.
pub struct Deps {
    /// The database.
    pub db: Db,
    /// Outgoing HTTP (the Fediseer's API).
    pub client: Client,
    /// Our own domain (never blocked by a list).
    pub own_domain: String,
}

impl FediseerConfig {
    /// Syncs every `interval` until `shutdown`, starting at once. Processes sharing the
    /// database take turns (a lease on the sync row): a process whose turn it is not counts
    /// a `skipped` sync.
    pub fn start(self, deps: Deps, shutdown: Shutdown) -> Handle {
        let task = tokio::spawn(syncs(deps, self, shutdown.clone()));
        Handle::new("Fediseer sync", shutdown, vec![task])
    }
}

async fn syncs(deps: Deps, settings: FediseerConfig, stop: Shutdown) {
    let Deps {
        db,
        client,
        own_domain,
    } = deps;
    // A little under the interval, so this process's own next turn is never refused
    // for a few milliseconds of timer drift.
    let lease = settings.interval.mul_f64(0.9);
    loop {
        match synced_policy::claim(&db, lease).await {
            Ok(true) => {
                // Shutdown does not wait for the Fediseer: an unfinished sync applies
                // nothing (its transaction is never committed).
                tokio::select! {
                    _ = stop.triggered() => break,
                    _ = run_once(&db, &client, &settings, &own_domain) => {}
                }
            }
            Ok(false) => {
                global()
                    .fediseer_sync_total
                    .with_label_values(&["skipped"])
                    .inc();
            }
            Err(e) => {
                global()
                    .fediseer_sync_total
                    .with_label_values(&["failed"])
                    .inc();
                tracing::warn!(error = %e, "Fediseer sync: could not take the sync lease");
            }
        }
        tokio::select! {
            _ = stop.triggered() => break,
            _ = tokio::time::sleep(settings.interval.max(Duration::from_secs(1))) => {}
        }
    }
}
