//! The reading stage: every pass, one statement adds the instances of our communities'
//! remote followers as origins and claims the ones due; each is read in turn and what it
//! publishes, or that it failed, is stored. Nothing here is on a request path or in a
//! batch: a list read late only means relays are filtered by the previous one.

use crate::{OriginsConfig, api};
use sluice_db::Db;
use sluice_net::Client;
use sluice_stage::{Handle, Shutdown};
use std::time::Duration;

/// How long a claimed origin is left to this process before another may read it.
const CLAIM: Duration = Duration::from_secs(600);

/// One pass: claims up to `settings.per_pass` due origins and reads them. Returns how many
/// were read successfully.
pub async fn pass(
    db: &Db,
    client: &Client,
    settings: &OriginsConfig,
) -> Result<usize, sluice_db::DbError> {
    let due = sluice_db::origins::due(db, settings.per_pass, CLAIM).await?;
    let mut read = 0;
    for origin in due {
        match api::read(client, &origin, settings.dev_mode).await {
            Ok(allowed) => {
                if !allowed.is_empty() {
                    tracing::info!(%origin, allowed = allowed.len(),
                        "origin runs in allow-list mode: relays of its content are limited to its list");
                }
                sluice_db::origins::store(db, &origin, allowed, settings.refresh).await?;
                read += 1;
            }
            Err(e) => {
                tracing::debug!(%origin, error = %e, "cannot read the origin's federation list");
                sluice_db::origins::failed(
                    db,
                    &origin,
                    &e.to_string(),
                    settings.retry_base,
                    settings.refresh,
                )
                .await?;
            }
        }
    }
    Ok(read)
}

/// What the reader needs from the process.
pub struct Deps {
    /// The database.
    pub db: Db,
    /// Outgoing HTTP (the guarded client).
    pub client: Client,
}

impl OriginsConfig {
    /// Runs a pass every [`OriginsConfig::pass_interval`] until `shutdown`, starting at once.
    pub fn start(self, deps: Deps, shutdown: Shutdown) -> Handle {
        let task = tokio::spawn(passes(deps, self, shutdown.clone()));
        Handle::new("origin lists", shutdown, vec![task])
    }
}

async fn passes(deps: Deps, settings: OriginsConfig, stop: Shutdown) {
    let Deps { db, client } = deps;
    loop {
        tokio::select! {
            _ = stop.triggered() => return,
            r = pass(&db, &client, &settings) => if let Err(e) = r {
                tracing::warn!(error = %e, "origin lists: database trouble; next pass retries");
            },
        }
        tokio::select! {
            _ = stop.triggered() => return,
            _ = tokio::time::sleep(settings.pass_interval()) => {}
        }
    }
}
