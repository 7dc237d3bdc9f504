//! Admin commands. They act on the same database as `serve`, whether or not it runs.

pub mod federation;
pub mod instance;

use crate::cli::{CommunityAction, UserAction};
use crate::config::Config;
use crate::database::{Database, Purpose};

/// `sluice migrate`.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    // Opening applies pending migrations.
    let database = Database::open(cfg, Purpose::Admin).await?;
    let state = sluice_db::migration_state(&database.db).await?;
    println!(
        "database is at the current schema ({} migrations pending)",
        state.pending.len()
    );
    close(database).await;
    Ok(())
}

/// `sluice community ...`.
pub async fn community(cfg: &Config, action: &CommunityAction) -> anyhow::Result<()> {
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = async {
        match action {
            CommunityAction::Create { name, title } => {
                let c = crate::actors::create_community(
                    &database.db,
                    &cfg.urls(),
                    name,
                    title.as_deref(),
                )
                .await?;
                println!("created community {} ({})", c.name, c.ap_id);
            }
            CommunityAction::List => {
                let list = sluice_db::actors::list_local_communities(&database.db).await?;
                if list.is_empty() {
                    println!(
                        "no local communities yet; create one with `sluice community create NAME`"
                    );
                }
                for c in list {
                    println!("{:<24} {:<32} {}", c.name, c.title, c.ap_id);
                }
            }
        }
        Ok(())
    }
    .await;
    close(database).await;
    result
}

/// `sluice user ...`.
pub async fn user(cfg: &Config, action: &UserAction) -> anyhow::Result<()> {
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = async {
        match action {
            UserAction::Create { name, display_name } => {
                let p = crate::actors::create_person(
                    &database.db,
                    &cfg.urls(),
                    name,
                    display_name.as_deref(),
                )
                .await?;
                println!("created user {} ({})", p.name, p.ap_id);
            }
        }
        Ok(())
    }
    .await;
    close(database).await;
    result
}

/// Closes the pool, then stops the embedded cluster if this command started it.
pub async fn close(database: Database) {
    let Database { db, cluster, .. } = database;
    drop(db);
    if let Some(cluster) = cluster {
        let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
    }
}
