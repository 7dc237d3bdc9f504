//! Migrations: embedded in the binary, applied at start (and by `sluice migrate`).

use crate::connect::{connect, parse_url};
use crate::{Db, DbError};
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::RunQueryDsl;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use std::time::Duration;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");
/// Serialises migration runs of several processes starting at once.
const MIGRATION_LOCK: i64 = 0x511C_E000_0001;

/// Applies every pending migration; returns the versions applied now.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, DbError> {
    let cfg = parse_url(url)?;
    let mut conn = connect(&cfg, Duration::from_secs(10)).await?.conn;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .await
        .map_err(|e| DbError::Migration(e.to_string()))?;
    let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    // Closing the connection releases the advisory lock.
    drop(harness.into_inner());
    Ok(applied)
}

/// How the database's applied migrations compare with the ones built in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Built-in migrations not yet applied.
    pub pending: Vec<String>,
    /// Applied migrations this binary does not know (a newer sluice migrated this database).
    pub unknown: Vec<String>,
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// Compares applied and built-in migrations (one round-trip; used by `/readyz`).
pub async fn migration_state(db: &Db) -> Result<MigrationState, DbError> {
    let known: Vec<String> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied: Vec<String> = db
        .run("migration_state", |c| {
            async move {
                let rows: Vec<Version> = diesel::sql_query(
                    "SELECT version FROM __diesel_schema_migrations \
                     WHERE to_regclass('__diesel_schema_migrations') IS NOT NULL",
                )
                .load(c)
                .await
                .or_else(|e| match e {
                    // The table does not exist before the first migration.
                    diesel::result::Error::DatabaseError(_, ref info)
                        if info.message().contains("does not exist") =>
                    {
                        Ok(vec![])
                    }
                    e => Err(e),
                })?;
                Ok(rows.into_iter().map(|r| r.version).collect())
            }
            .boxed()
        })
        .await?;
    Ok(MigrationState {
        pending: known
            .iter()
            .filter(|v| !applied.contains(v))
            .cloned()
            .collect(),
        unknown: applied
            .iter()
            .filter(|v| !known.contains(v))
            .cloned()
            .collect(),
    })
}

/// Creates database named in `url` when it does not exist (for the embedded cluster and
/// tests; an external server's database is the admin's to create).
pub async fn ensure_database(url: &str) -> Result<(), DbError> {
    let target = parse_url(url)?;
    let name = target.dbname().unwrap_or("postgres").to_string();
    let admin = target.with_dbname("postgres");
    let mut conn: AsyncPgConnection = connect(&admin, Duration::from_secs(10)).await?.conn;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)
            .await?;
    if !row.exists {
        let quoted = name.replace('"', "\"\"");
        match conn
            .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
            .await
        {
            Ok(()) => {}
            // Another process created it between our check and our CREATE.
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("already exists") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
