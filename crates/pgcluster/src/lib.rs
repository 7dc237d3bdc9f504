//! A private PostgreSQL cluster for sluice's embedded default database.
//!
//! When no `database_url` is configured, `sluice serve` keeps its own cluster under
//! `data_dir`, built from the PostgreSQL binaries already installed on the machine. This
//! crate finds those binaries, creates the cluster on first use, starts it on a unix socket
//! only (no TCP port), and stops it again.
//!
//! Two properties matter to admins:
//! - **Running as root works.** PostgreSQL refuses to run as root, so the cluster runs as
//!   the `postgres` system user (or `nobody`), with privileges dropped in the child.
//! - **No orphans.** The postmaster is started with a parent-death signal from a thread
//!   that lives as long as the owning process, so even `kill -9` of sluice stops it.
//!
//! The test kit uses the same code to give every test binary a real PostgreSQL.

#![deny(missing_docs)]

mod binaries;
mod cluster;
mod runas;

pub use binaries::{PgBinaries, find_binaries};
pub use cluster::{Cluster, ClusterOptions, Ownership};
pub use runas::RunAs;

/// What can go wrong while finding, creating or running the cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No PostgreSQL server binaries on this machine.
    #[error(
        "no PostgreSQL server binaries found (looked at $SLUICE_PG_BIN, `pg_config --bindir` and \
         /usr/lib/postgresql/*/bin). Install them (Debian/Ubuntu: `apt install postgresql`, \
         Fedora: `dnf install postgresql-server`) or set `database_url` to use an existing server"
    )]
    NoBinaries,
    /// A command of the cluster's life cycle failed.
    #[error("{what} failed: {detail}")]
    Command {
        /// Which step.
        what: &'static str,
        /// Its output or error.
        detail: String,
    },
    /// A file-system operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// Which step.
        what: &'static str,
        /// The path it was about.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The cluster did not become ready in time.
    #[error("PostgreSQL did not become ready within {0} s; see its log at {1}")]
    NotReady(u64, String),
    /// Another process owns the cluster.
    #[error(
        "the embedded database in {dir} is in use by another process (postmaster pid {pid}); \
         stop that sluice first, or set `database_url` to share one PostgreSQL between processes"
    )]
    InUse {
        /// The cluster directory.
        dir: String,
        /// The running postmaster.
        pid: i32,
    },
}

pub(crate) fn io_err(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |source| Error::Io { what, path, source }
}
