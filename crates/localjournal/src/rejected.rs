//! `rejected/`: records PostgreSQL refused on their own, kept where a human can read them.
//!
//! They count against `max_bytes` with the pending records: a record the database will never
//! take is still an acknowledged activity, so it is never dropped, and the disk the journal
//! may use stays bounded by the one number the admin set. A flood of such records therefore
//! ends in 429 `LocalJournalFull` (with `sluice_local_journal_rejected_bytes` and an error
//! log saying why), never in a full disk. Deleting files (after reading them) gives their room
//! back: the drainer recounts the directory while it is idle.

use crate::store::Stored;
use sluice_metrics::global;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The directory's name beside the store.
pub const DIR: &str = "rejected";

/// How often an idle drainer recounts the directory while it holds something.
const RECOUNT_EVERY: Duration = Duration::from_secs(10);

/// The set-aside records and the bytes they take.
pub struct Rejected {
    dir: PathBuf,
    bytes: AtomicU64,
    counted: std::sync::Mutex<Instant>,
}

impl Rejected {
    /// Counts what an earlier run set aside under `journal_dir`.
    pub fn open(journal_dir: &Path) -> Rejected {
        let r = Rejected {
            dir: journal_dir.join(DIR),
            bytes: AtomicU64::new(0),
            counted: std::sync::Mutex::new(Instant::now()),
        };
        r.recount();
        r
    }

    /// Bytes of the files in the directory.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Writes `s` to `rejected/SEQ.json` (fsynced) and counts it; returns the file's path.
    pub fn keep(&self, s: &Stored) -> std::io::Result<PathBuf> {
        let path = self.dir.join(format!("{}.json", s.seq));
        let encoded = s.record.encode();
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(&path, &encoded)?;
        std::fs::File::open(&path)?.sync_all()?;
        self.bytes
            .fetch_add(encoded.len() as u64, Ordering::Relaxed);
        self.publish();
        Ok(path)
    }

    /// Recounts the directory when it held something and was last counted a while ago (an
    /// admin may have removed files).
    pub fn recount_now_and_then(&self) {
        if self.bytes() == 0 {
            return;
        }
        {
            let mut at = self.counted.lock().unwrap_or_else(|e| e.into_inner());
            if at.elapsed() < RECOUNT_EVERY {
                return;
            }
            *at = Instant::now();
        }
        self.recount();
    }

    pub(crate) fn recount(&self) {
        let total = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(std::fs::Metadata::is_file)
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        self.bytes.store(total, Ordering::Relaxed);
        self.publish();
    }

    fn publish(&self) {
        global()
            .local_journal_rejected_bytes
            .set(self.bytes() as i64);
    }
}
