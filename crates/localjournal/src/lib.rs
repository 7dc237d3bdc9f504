//! The local durable journal (`journal = "local"`): the inbox acknowledges once a verified
//! activity is fsynced under `data_dir`, and a drainer moves the records into
//! `received_activity` in batches, so the database's distance is off the request path.
//!
//! Invariants, in the order a record lives them:
//!
//! - **Durable before the 202.** [`LocalJournal::append`] returns only after the record's
//!   write batch is fsynced (`fdatasync` of the store's write-ahead journal). Concurrent
//!   appends share that fsync: one writer thread takes whatever has queued and commits it as
//!   one batch ([`store`]).
//! - **Removed only after the database commit.** The drainer ([`drain`]) reads the oldest
//!   records, inserts them in one statement (`ON CONFLICT (activity_id) DO NOTHING`, their
//!   own `received_at`), and only then removes them locally. A crash in between drains them
//!   again, which the conflict clause makes harmless; a restart resumes with what is left.
//! - **Bounded.** Pending record bytes, with those set aside in `rejected/` ([`rejected`]),
//!   beyond `max_bytes` refuse with 429 `LocalJournalFull` and `Retry-After`; a store that
//!   cannot write (disk full, read-only, I/O error) refuses with 503
//!   `LocalJournalUnavailable` and `Retry-After`: never a 202 for what is not on disk.
//! - **One owner.** A process holds an advisory lock on `LOCK` in the directory for as long
//!   as the journal is open; a second process fails at start with [`OpenError::Locked`].
//!
//! Duplicates: a bounded set of recently appended ids ([`recent`]) answers a re-sent id
//! `"duplicate"` without a write. An id older than that set (or drained before a restart)
//! is appended again and answered `"accepted"`; the drain's conflict clause keeps one row.
//!
//! The store is fjall, chosen by measurement on this machine (shared with five other
//! builds, load average ~12 on 2 cores; `docs/benchmarks.md`, "Local journal store"),
//! 2 KB records, one writer, then 32 appenders sharing fsyncs through one committer:
//!
//! | store | append+fsync p50 / p99 (ms) | group commit appends/s (3 runs) |
//! | --- | --- | --- |
//! | plain file + fdatasync | 4.2–6.8 / 16–44 | 3,400–4,800 |
//! | redb 5.0 | 5.8–6.5 / 16–20 | 3,700–4,100 |
//! | fjall 3.1 | 4.3–7.0 / 12–16 | 4,700–25,000 |
//!
//! Single appends cost the same everywhere (the disk's fsync); with company, fjall's
//! preallocated write-ahead journal commits a batch with one sequential write and one
//! `fdatasync`, where redb rewrites B-tree pages and its header and a growing plain file
//! also flushes its size. fjall removes by tombstone (compacted in the background), which
//! suits a queue whose records live seconds. The measurement is
//! `cargo test -p sluice-localjournal --lib store_figures -- --ignored --nocapture`.

#![deny(missing_docs)]

pub mod drain;
mod error;
pub mod recent;
pub mod record;
pub mod rejected;
pub mod store;
#[cfg(test)]
mod store_figures;
#[cfg(test)]
mod tests;

pub use error::{LocalJournalError, OpenError};
pub use record::Record;

use sluice_db::inbox::NewReceived;
use sluice_stage::Waker;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the local journal is bounded and answers.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Its directory (the server uses `data_dir/journal`).
    pub dir: PathBuf,
    /// Pending record bytes beyond which appends answer 429.
    pub max_bytes: u64,
    /// `Retry-After` sent with that 429.
    pub retry_after: Duration,
    /// Recently appended ids remembered for the `"duplicate"` answer.
    pub recent_ids: usize,
}

impl LocalConfig {
    /// Defaults for `dir`: 1 GiB, 30 s, 100,000 ids.
    pub fn new(dir: &Path) -> LocalConfig {
        LocalConfig {
            dir: dir.to_path_buf(),
            max_bytes: 1 << 30,
            retry_after: Duration::from_secs(30),
            recent_ids: 100_000,
        }
    }
}

/// What the journal did with one activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The id was appended recently: nothing written.
    pub duplicate: bool,
}

/// The open journal: the request side and the drainer's side. Closing it (dropping the
/// last `Arc`) stops the writer thread after what is queued and releases the lock.
pub struct LocalJournal {
    store: store::Store,
    recent: recent::RecentIds,
    rejected: rejected::Rejected,
    cfg: LocalConfig,
    /// Woken after every commit that appended something (the drainer waits on it).
    appended: Waker,
}

impl LocalJournal {
    /// Opens (or creates) the journal in `cfg.dir`, taking its lock, and reads what an
    /// earlier process left to drain.
    pub fn open(cfg: LocalConfig) -> Result<LocalJournal, OpenError> {
        let appended = Waker::kept();
        let (store, pending_ids) = store::Store::open(&cfg.dir, appended.clone())?;
        let recent = recent::RecentIds::new(cfg.recent_ids);
        let rejected = rejected::Rejected::open(&cfg.dir);
        for id in pending_ids {
            recent.insert(id);
        }
        if store.depth() > 0 {
            tracing::info!(
                records = store.depth(),
                bytes = store.bytes(),
                "local journal: resuming the drain of records left by the last run"
            );
        }
        Ok(LocalJournal {
            store,
            recent,
            rejected,
            cfg,
            appended,
        })
    }

    /// Appends one verified activity; returns once it is fsynced (or known as a recent
    /// duplicate). Costs no database round-trip.
    pub async fn append(&self, row: NewReceived) -> Result<Appended, LocalJournalError> {
        if self.recent.contains(&row.activity_id) {
            return Ok(Appended { duplicate: true });
        }
        let record = Record::new(row, chrono::Utc::now());
        let encoded = record.encode();
        let (bytes, max) = (
            self.store.bytes() + self.rejected.bytes(),
            self.cfg.max_bytes,
        );
        if bytes + encoded.len() as u64 > max {
            return Err(LocalJournalError::Full {
                bytes,
                rejected: self.rejected.bytes(),
                max,
                retry_after: self.cfg.retry_after,
            });
        }
        self.store.append(encoded).await?;
        self.recent.insert(record.activity_id);
        Ok(Appended { duplicate: false })
    }

    /// Records waiting for the drain.
    pub fn depth(&self) -> u64 {
        self.store.depth()
    }

    /// Their encoded bytes (what `max_bytes` bounds, with [`LocalJournal::rejected_bytes`]).
    pub fn bytes(&self) -> u64 {
        self.store.bytes()
    }

    /// Bytes of the records set aside in `rejected/` (counted against `max_bytes` too).
    pub fn rejected_bytes(&self) -> u64 {
        self.rejected.bytes()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }
}
