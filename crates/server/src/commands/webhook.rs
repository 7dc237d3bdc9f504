//! `sluice webhook status`: what the webhooks' deliveries table says, for every process
//! sharing the database.

use super::close;
use crate::cli::WebhookAction;
use crate::config::Config;
use crate::database::{Database, Purpose};

/// `sluice webhook ...`.
pub async fn run(cfg: &Config, action: &WebhookAction) -> anyhow::Result<()> {
    let WebhookAction::Status { json } = action;
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = async {
        let rows = sluice_db::webhooks::status(&database.db).await?;
        if *json {
            let doc = serde_json::json!({ "webhooks": rows });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            print!(
                "{}",
                sluice_webhooks::status::table(&rows, chrono::Utc::now())
            );
        }
        Ok(())
    }
    .await;
    close(database).await;
    result
}
