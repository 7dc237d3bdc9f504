//! What can stop a benchmark run.

/// A benchmark failure (setup, database, HTTP); assertion failures are reported, not errors.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting something up failed (a process, a file, a configuration).
    #[error("{0}")]
    Setup(String),
    /// The database.
    #[error("database: {0}")]
    Db(#[from] sluice_db::DbError),
    /// A query of the benchmark's own.
    #[error("query: {0}")]
    Query(#[from] sluice_db::diesel::result::Error),
    /// HTTP to sluice.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// A simulated instance.
    #[error("peer: {0}")]
    Peer(#[from] sluice_testkit::peer::PeerError),
    /// The private PostgreSQL cluster.
    #[error("PostgreSQL: {0}")]
    Cluster(#[from] sluice_pgcluster::Error),
    /// A file or process.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Results of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// `BenchError::Setup` from anything printable.
pub fn setup(msg: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(msg.to_string())
}
