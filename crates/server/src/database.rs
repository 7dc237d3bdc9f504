//! Which PostgreSQL sluice uses: the configured one, or the embedded cluster.

use crate::config::Config;
use anyhow::Context;
use sluice_db::{Db, PoolOptions};
use sluice_pgcluster::{Cluster, ClusterOptions, Ownership};

/// The database name inside the embedded cluster.
const EMBEDDED_DB: &str = "sluice";

/// An open database, and the embedded cluster behind it when we run one.
pub struct Database {
    /// The pool.
    pub db: Db,
    /// Its URL (for components that need their own connections, and for messages).
    pub url: String,
    /// The embedded cluster, when `database_url` is unset. Dropping it stops the cluster
    /// if this process started it.
    pub cluster: Option<Cluster>,
}

/// Who is opening: the server owns the embedded cluster; admin commands share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `sluice serve`.
    Serve,
    /// Any other command.
    Admin,
}

impl Database {
    /// Opens the configured database (starting the embedded cluster if needed) and applies
    /// pending migrations.
    pub async fn open(cfg: &Config, purpose: Purpose) -> anyhow::Result<Database> {
        let (url, cluster) = locate(cfg, purpose).await?;
        let applied = sluice_db::run_migrations(&url)
            .await
            .with_context(|| where_(&url, cluster.is_some()))?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }
        let opts = PoolOptions {
            max_size: cfg.pool_size,
            ..PoolOptions::default()
        };
        let db = Db::connect(&url, opts)
            .await
            .with_context(|| where_(&url, cluster.is_some()))?;
        Ok(Database { db, url, cluster })
    }
}

/// The database URL to use, starting (or attaching to) the embedded cluster when
/// `database_url` is unset. Nothing is migrated (`sluice doctor` reports pending migrations
/// instead of applying them).
pub async fn locate(cfg: &Config, purpose: Purpose) -> anyhow::Result<(String, Option<Cluster>)> {
    match &cfg.database_url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            let ownership = match purpose {
                Purpose::Serve => Ownership::Exclusive,
                Purpose::Admin => Ownership::ReuseRunning,
            };
            let opts = ClusterOptions::new(cfg.data_dir.join("postgres"), ownership);
            let cluster = tokio::task::spawn_blocking(move || Cluster::start(&opts))
                .await
                .context("starting the embedded database")??;
            let url = cluster.url(EMBEDDED_DB);
            sluice_db::ensure_database(&url).await?;
            Ok((url, Some(cluster)))
        }
    }
}

fn where_(url: &str, embedded: bool) -> String {
    if embedded {
        "the embedded database".to_string()
    } else {
        format!("database_url {}", redact(url))
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
