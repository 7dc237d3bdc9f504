//! The database layer against a real PostgreSQL, one module per area
//! (`cargo test -p sluice-db --test db MODULE::`).

mod delivery;
mod faults;
mod ingest;
mod outbound;
mod policy;
mod pool;
mod tls;
