//! `sluice fediseer sync`: one Fediseer sync now, as the background task of `serve` runs
//! it (an admin who just changed the configuration, and the tests, need not wait for the
//! interval).

use crate::cli::FediseerAction;
use crate::config::Config;
use crate::database::{Database, Purpose};

/// Runs one `fediseer` subcommand.
pub async fn run(cfg: &Config, action: &FediseerAction) -> anyhow::Result<()> {
    let FediseerAction::Sync = action;
    let settings = cfg.fediseer();
    if !settings.enabled() {
        anyhow::bail!("the Fediseer sync is off: set fediseer_feelers or fediseer_censure_sources");
    }
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = async {
        let net = sluice_net::Client::new(cfg.net())?;
        let domain = cfg.urls().domain().to_string();
        let applied =
            sluice_fediseer::sync::run_once(&database.db, &net, &settings, &domain).await?;
        for d in &applied.set {
            println!("synced {d}");
        }
        for d in &applied.cleared {
            println!("withdrawn {d}");
        }
        println!(
            "synced entries in force: {} allowed, {} blocked",
            applied.allows, applied.blocks
        );
        Ok(())
    }
    .await;
    super::close(database).await;
    result
}
