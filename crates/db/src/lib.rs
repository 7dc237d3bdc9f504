//! sluice's PostgreSQL layer: the schema, the instrumented connection pool, every query,
//! and the migrations runner.
//!
//! Nothing outside this crate writes SQL. Queries are grouped by the table family they
//! serve (one module each) and all run through [`Conn::run`] / [`Conn::run_tx`], which
//! name, time and count them: the round-trip counter is what proves sluice's central claim,
//! "a few round-trips per batch, not twenty per activity".

#![deny(missing_docs)]

mod cached;
mod connect;
mod migrate;
mod pool;
#[allow(missing_docs)]
pub mod schema;
pub mod tls;
mod wire;

pub mod actors;
pub mod delivery;
pub mod inbox;
pub mod ingest;
pub mod instances;
pub mod leases;
pub mod outbound;
pub mod probe;
pub mod remote_keys;

pub use cached::{Sql, sql};
pub use connect::{DbTarget, parse_url};
pub use migrate::{MigrationState, ensure_database, migration_state, run_migrations};
pub use pool::{Conn, Db, PoolOptions, PoolStatus};
pub use wire::WireStats;

pub use diesel;
pub use diesel_async;

/// Database errors, classified by what the caller should do about them.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The configuration is wrong (bad URL, unsupported option): fix and restart.
    #[error("{0}")]
    Config(String),
    /// The database cannot be reached right now: retry later (senders get 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
}

impl DbError {
    /// A short, bounded label for metrics.
    pub fn class(&self) -> &'static str {
        match self {
            DbError::Config(_) => "config",
            DbError::Unavailable(_) => "unavailable",
            DbError::Query(diesel::result::Error::NotFound) => "not_found",
            DbError::Query(diesel::result::Error::DatabaseError(k, _)) => match k {
                diesel::result::DatabaseErrorKind::UniqueViolation => "unique_violation",
                diesel::result::DatabaseErrorKind::SerializationFailure => "serialization",
                _ => "query",
            },
            DbError::Query(_) => "query",
            DbError::Migration(_) => "migration",
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self.class(), "unavailable" | "serialization")
    }
}

/// Shorthand for results of this crate.
pub type DbResult<T> = Result<T, DbError>;
