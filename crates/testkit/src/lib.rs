//! Test support shared by every crate's tests and the end-to-end suite.
//!
//! - [`test_db`]: a fresh, migrated database on a real PostgreSQL. The server is the one
//!   `DATABASE_URL` points to (CI starts one), else a private cluster this test process
//!   starts from the installed binaries and that dies with the process.
//!
//! Tests that use it need the multi-thread runtime (migrations use `block_in_place`):
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.

mod pg;

pub use pg::{TestDb, server_url, test_db};
