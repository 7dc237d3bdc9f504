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
mod error;
mod migrate;
mod pool;
#[allow(missing_docs)]
pub mod schema;
pub mod sqlstate;
pub mod tls;
mod wire;

pub mod actors;
pub mod admin;
pub mod delivery;
pub mod inbox;
pub mod ingest;
pub mod instance_ages;
pub mod instances;
pub mod leases;
pub mod origins;
pub mod outbound;
pub mod policy_cache;
pub mod probe;
pub mod refusals;
pub mod remote_keys;
pub mod review;
pub mod served;
pub mod synced_policy;
pub mod webhooks;

pub use cached::{Sql, sql};
pub use connect::{DbTarget, parse_url};
pub use error::{DbError, DbResult, Retry};
pub use migrate::{MigrationState, ensure_database, migration_state, run_migrations};
pub use pool::{Conn, Db, PoolOptions, PoolStatus};
pub use sqlstate::SqlState;
pub use wire::WireStats;

pub use diesel;
pub use diesel_async;
