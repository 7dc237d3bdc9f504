//! Test support shared by every crate's tests and the end-to-end suite.
//!
//! - [`test_db`]: a fresh, migrated database on a real PostgreSQL. The server is the one
//!   `DATABASE_URL` points to (CI starts one), else a private cluster this test process
//!   starts from the installed binaries and that dies with the process.
//! - [`Sluice`]: the real `sluice` binary as a child process on a free loopback port.
//! - [`TestPeer`] ([`peer`]): a fake remote Lemmy instance on loopback that signs and verifies
//!   with activitypub_federation, for interoperability tests of the inbox, pipeline and queue.
//! - [`lemmy`]: the Lemmy fixtures as scenarios (activities and the rows they must end in),
//!   shared by the pipeline's crate tests and the end-to-end suite.
//!
//! Tests that use the database need the multi-thread runtime (migrations use
//! `block_in_place`): `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.

pub mod lemmy;
pub mod peer;
mod pg;
mod process;

pub use peer::{Behaviour, Delivery, Received, Reply, Tamper, TestPeer};
pub use pg::{TestDb, server_url, test_db};
pub use process::{Sluice, SluiceOptions, free_port, http_client};

/// The Lemmy fixtures committed with the repository (`fixtures/activitypub/lemmy`, copied
/// from Lemmy's own test assets; see `fixtures/activitypub/README.md`).
pub fn lemmy_fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/activitypub/lemmy")
}
