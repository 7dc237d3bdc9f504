//! Why the local journal could not open or append, and what the sender hears.

use sluice_apub::Rc;
use sluice_refusal::Refusal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why the journal could not be opened (the server stops with it).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the directory's lock.
    #[error(
        "the local journal {0} is in use by another sluice process (its LOCK file is held); \
         give each process its own data_dir"
    )]
    Locked(PathBuf),
    /// The directory or its lock file could not be made or opened.
    #[error("the local journal directory {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened or read.
    #[error("the local journal store: {0}")]
    Store(#[from] StoreError),
}

/// The store's own failure, shared by every append of a failed batch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(#[source] pub Arc<fjall::Error>);

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        StoreError(Arc::new(e))
    }
}

/// Why one append was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LocalJournalError {
    /// The pending records reached the configured bound (the database is away or slow).
    #[error("the local journal holds {bytes} of at most {max} bytes; retry later")]
    Full {
        /// Pending bytes, with the set-aside ones.
        bytes: u64,
        /// Of those, the records the database refused, set aside in `rejected/`.
        rejected: u64,
        /// The bound.
        max: u64,
        /// What to tell the sender.
        retry_after: Duration,
    },
    /// The write or its fsync failed (disk full, read-only, I/O error).
    #[error("the local journal could not write: {0}")]
    Store(#[from] StoreError),
    /// The writer thread is gone (shutting down).
    #[error("the local journal is closed")]
    Closed,
}

/// What a 503 `LocalJournalUnavailable` asks the sender to wait. The store is reopened at the
/// next append, so a disk that has room again takes appends at once; a failed disk needs an
/// admin, and senders back off on their own after repeated 503s.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(10);

/// 429 `LocalJournalFull` with `Retry-After` when the bound is reached; 503
/// `LocalJournalUnavailable` with `Retry-After` when nothing can be written. The cause stays
/// in our log.
impl From<LocalJournalError> for Refusal {
    fn from(e: LocalJournalError) -> Self {
        match e {
            LocalJournalError::Full { retry_after, .. } => {
                Refusal::new(Rc::LocalJournalFull, e.to_string()).retry_after(retry_after)
            }
            LocalJournalError::Store(_) | LocalJournalError::Closed => {
                tracing::error!(error = %e, "local journal: append refused");
                Refusal::new(
                    Rc::LocalJournalUnavailable,
                    "the activity could not be stored; retry later",
                )
                .retry_after(UNAVAILABLE_RETRY_AFTER)
            }
        }
    }
}
