//! `sluice federation status` and `sluice instance revive`.

use super::close;
use crate::cli::FederationAction;
use crate::config::Config;
use crate::database::{Database, Purpose};
use sluice_db::delivery::Revived;

/// `sluice federation ...`.
pub async fn run(cfg: &Config, action: &FederationAction) -> anyhow::Result<()> {
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = async {
        match action {
            FederationAction::Status { json } => {
                let rows = sluice_queue::status::load(&database.db).await?;
                if *json {
                    let doc = serde_json::json!({ "instances": rows });
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                } else {
                    print!("{}", sluice_queue::status::table(&rows, chrono::Utc::now()));
                }
            }
        }
        Ok(())
    }
    .await;
    close(database).await;
    result
}

/// `sluice instance revive DOMAIN`.
pub async fn revive(db: &sluice_db::Db, domain: &str) -> anyhow::Result<()> {
    match sluice_db::delivery::revive(db, domain).await? {
        Revived::Revived => println!("{domain} revived: deliveries resume from its cursor"),
        Revived::Reset => {
            println!("{domain} was not dead; its failure streak and backoff are reset")
        }
        Revived::Unknown => {
            anyhow::bail!("nothing was ever delivered to {domain}: no such instance")
        }
    }
    Ok(())
}
