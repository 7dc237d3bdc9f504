//! The ingestion pipeline against a real PostgreSQL, one module per concern
//! (`cargo test -p sluice-pipeline --test pipeline MODULE::`).

mod authority;
mod budgets;
mod concurrency;
mod failures;
mod fixtures;
mod leases;
mod order;
mod roundtrips;
mod software;
mod support;
