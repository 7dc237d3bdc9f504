//! Admin commands. They act on the same database as `serve`, whether or not it runs.

pub mod federation;
pub mod fediseer;
pub mod instance;
pub mod policy;
pub mod webhook;

use crate::cli::{CommunityAction, JournalAction, UserAction};
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

/// `sluice journal ...`.
pub async fn journal(cfg: &Config, action: &JournalAction) -> anyhow::Result<()> {
    use sluice_db::ingest::journal;
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = async {
        match action {
            JournalAction::Failed { limit } => {
                let rows = journal::list_failed(&database.db, *limit).await?;
                if rows.is_empty() {
                    println!("no failed activities");
                }
                for r in rows {
                    println!(
                        "{:<8} {} {:<8} {:<20} {} attempts={}\n         {} {}",
                        r.head.id,
                        r.head.received_at.format("%Y-%m-%d %H:%M:%S"),
                        r.head.kind,
                        r.error_code.as_deref().unwrap_or("-"),
                        r.head.activity_id,
                        r.attempts,
                        r.head.actor,
                        r.error.as_deref().unwrap_or(""),
                    );
                }
            }
            JournalAction::Replay {
                rc: Some(rc),
                limit,
                ..
            } => {
                let n = journal::replay_code(&database.db, rc, *limit).await?;
                println!("{n} rows with rc {rc} back to pending");
            }
            JournalAction::Replay { ids, .. } => {
                let mut missing = Vec::new();
                for id in ids {
                    if journal::replay(&database.db, *id).await? {
                        println!("{id}: back to pending");
                    } else {
                        missing.push(id.to_string());
                    }
                }
                if !missing.is_empty() {
                    anyhow::bail!(
                        "no failed or ignored journal row with id {}",
                        missing.join(", ")
                    );
                }
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
