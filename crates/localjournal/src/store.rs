//! The store and its one writer thread: group commit.
//!
//! Appends queue to a dedicated thread, which takes everything queued and commits it as
//! one fjall write batch with `fdatasync` (one fsync for all of them) before answering
//! each. Reads and removals for the drainer go through the same thread, so it alone owns
//! the store: after a failed write fjall refuses every later one (it poisons itself), and
//! the thread reopens the store from disk at the next command, so a disk that had no room
//! works again once it has.

use crate::error::{OpenError, StoreError};
use crate::record::Record;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use sluice_metrics::global;
use sluice_stage::Waker;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// The lock file in the journal directory.
pub const LOCK_FILE: &str = "LOCK";
/// Most appends in one commit.
const BATCH_MAX: usize = 1024;
/// fjall's memtable bound for the records. A record is written once, read once by the drainer
/// moments later and removed, so the memtable only needs the records of a second or two at
/// the peak rate (4,000 records of 2 KB; 6,700/s were measured). fjall keeps the active
/// memtable and up to 4 sealed ones waiting for their flush (then it halts writes), so this
/// bounds the store's memory near 5 × 8 MiB where its default (64 MiB) allowed 320 MiB: a
/// burst of acknowledgements stayed in memory (peak RSS 285 MB with 64 senders at 25 ms).
/// Smaller memtables mean more, smaller flushes; the flush rate in bytes is the same.
const MEMTABLE_BYTES: u64 = 8 << 20;
/// fjall's block cache. The drainer reads segments once, sequentially, so a cache buys little
/// beyond read-ahead; fjall's default is 32 MiB.
const CACHE_BYTES: u64 = 8 << 20;

/// A record read for the drain: its key and size travel with it to the removal.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its key (arrival order).
    pub seq: u64,
    /// Its encoded size.
    pub bytes: u64,
    /// The record.
    pub record: Record,
}

enum Cmd {
    Append(Vec<u8>, oneshot::Sender<Result<(), StoreError>>),
    Oldest(
        usize,
        oneshot::Sender<Result<Vec<(u64, fjall::Slice)>, StoreError>>,
    ),
    Remove(Vec<Stored>, oneshot::Sender<Result<(), StoreError>>),
}

/// The request side of the writer thread, and what it keeps count of.
pub struct Store {
    tx: mpsc::UnboundedSender<Cmd>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    depth: AtomicU64,
    bytes: AtomicU64,
}

impl Counts {
    fn publish(&self) {
        let m = global();
        m.local_journal_depth
            .set(self.depth.load(Ordering::Relaxed) as i64);
        m.local_journal_bytes
            .set(self.bytes.load(Ordering::Relaxed) as i64);
    }
}

impl Store {
    /// Locks `dir`, opens the store, counts what is pending and starts the writer thread.
    /// Also returns the pending records' ids.
    pub fn open(dir: &Path, appended: Waker) -> Result<(Store, Vec<String>), OpenError> {
        let io = |source| OpenError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked(dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let path = dir.join("store");
        let open = Opened::open(&path).map_err(StoreError::from)?;
        let counts = Arc::new(Counts::default());
        let mut ids = Vec::new();
        let (depth, bytes, next) = open.scan(|r| ids.push(r.activity_id.clone()))?;
        counts.depth.store(depth, Ordering::Relaxed);
        counts.bytes.store(bytes, Ordering::Relaxed);
        counts.publish();
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            path,
            open: Some(open),
            next,
            from: 0,
            counts: counts.clone(),
            appended,
            _lock: lock,
        };
        std::thread::Builder::new()
            .name("sluice-localjournal".into())
            .spawn(move || writer.run(rx))
            .map_err(io)?;
        Ok((Store { tx, counts }, ids))
    }

    /// Appends one encoded record; returns once it is fsynced.
    pub async fn append(&self, encoded: Vec<u8>) -> Result<(), crate::LocalJournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Append(encoded, reply))
            .map_err(|_| crate::LocalJournalError::Closed)?;
        Ok(answer
            .await
            .map_err(|_| crate::LocalJournalError::Closed)??)
    }

    /// The oldest `n` records, in arrival order. The writer thread only reads their bytes;
    /// they are decoded here, on the caller's task, so appends do not wait for the decoding.
    pub async fn oldest(&self, n: usize) -> Result<Vec<Stored>, crate::LocalJournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Oldest(n, reply))
            .map_err(|_| crate::LocalJournalError::Closed)?;
        let raw = answer
            .await
            .map_err(|_| crate::LocalJournalError::Closed)??;
        let mut out = Vec::with_capacity(raw.len());
        for (seq, v) in raw {
            match Record::decode(&v) {
                Ok(record) => out.push(Stored {
                    seq,
                    bytes: v.len() as u64,
                    record,
                }),
                // Written by this code, so never expected; kept on disk for a human.
                Err(e) => tracing::error!(seq, error = %e, "local journal: an unreadable record"),
            }
        }
        Ok(out)
    }

    /// Removes drained records (not fsynced: a crash before the next fsync drains them
    /// again, which the insert's conflict clause makes harmless).
    pub async fn remove(&self, drained: Vec<Stored>) -> Result<(), crate::LocalJournalError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Remove(drained, reply))
            .map_err(|_| crate::LocalJournalError::Closed)?;
        Ok(answer
            .await
            .map_err(|_| crate::LocalJournalError::Closed)??)
    }

    /// Records pending.
    pub fn depth(&self) -> u64 {
        self.counts.depth.load(Ordering::Relaxed)
    }

    /// Their encoded bytes.
    pub fn bytes(&self) -> u64 {
        self.counts.bytes.load(Ordering::Relaxed)
    }
}

struct Opened {
    db: Database,
    records: Keyspace,
}

impl Opened {
    fn open(path: &Path) -> Result<Opened, fjall::Error> {
        let db = Database::builder(path).cache_size(CACHE_BYTES).open()?;
        let records = db.keyspace("records", || {
            KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
        })?;
        Ok(Opened { db, records })
    }

    /// Counts the pending records, calls `each` with them in order, and returns (depth,
    /// bytes, the next key).
    fn scan(&self, mut each: impl FnMut(&Record)) -> Result<(u64, u64, u64), StoreError> {
        let (mut depth, mut bytes, mut next) = (0, 0, 0);
        for kv in self.records.iter() {
            let (k, v) = kv.into_inner()?;
            depth += 1;
            bytes += v.len() as u64;
            next = key(&k).map_or(next, |s| s + 1);
            match Record::decode(&v) {
                Ok(r) => each(&r),
                Err(e) => tracing::error!(error = %e, "local journal: an unreadable record"),
            }
        }
        Ok((depth, bytes, next))
    }
}

fn key(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

struct Writer {
    path: PathBuf,
    /// `None` after a failed write: reopened at the next command.
    open: Option<Opened>,
    next: u64,
    /// No record below this key is pending (the drained ones are removed oldest first), so
    /// the drainer's read starts here instead of stepping over the removed records'
    /// tombstones at every round.
    from: u64,
    counts: Arc<Counts>,
    appended: Waker,
    /// The directory's lock, held by the thread that owns the store: released only after
    /// the store is closed (the thread ends when the journal is dropped).
    _lock: File,
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        while let Some(first) = rx.blocking_recv() {
            let mut appends: Vec<(Vec<u8>, Waiter)> = Vec::new();
            let mut others = Vec::new();
            let mut cmd = Some(first);
            while let Some(c) = cmd.take() {
                match c {
                    Cmd::Append(r, w) => appends.push((r, w)),
                    other => others.push(other),
                }
                if appends.len() < BATCH_MAX {
                    cmd = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit(appends);
            }
            for c in others {
                match c {
                    Cmd::Oldest(n, reply) => {
                        let _ = reply.send(self.oldest(n));
                    }
                    Cmd::Remove(drained, reply) => {
                        let _ = reply.send(self.remove(drained));
                    }
                    Cmd::Append(..) => {}
                }
            }
        }
        // The channel closed: the journal was dropped. fjall persists on drop.
    }

    /// The store, reopened (and recounted) after a failure.
    fn store(&mut self) -> Result<&Opened, StoreError> {
        if self.open.is_none() {
            let open = Opened::open(&self.path)?;
            let (depth, bytes, next) = open.scan(|_| {})?;
            self.counts.depth.store(depth, Ordering::Relaxed);
            self.counts.bytes.store(bytes, Ordering::Relaxed);
            self.counts.publish();
            self.next = self.next.max(next);
            // A removal the failure undid is pending again: read from the start once.
            self.from = 0;
            tracing::info!("local journal: store reopened");
            self.open = Some(open);
        }
        self.open.as_ref().ok_or_else(|| {
            StoreError::from(fjall::Error::Io(std::io::Error::other("store not open")))
        })
    }

    fn fail(&mut self, e: StoreError) -> StoreError {
        tracing::error!(error = %e, "local journal: write failed; the store is reopened at the next command");
        self.open = None;
        e
    }

    fn commit(&mut self, appends: Vec<(Vec<u8>, Waiter)>) {
        let start = Instant::now();
        let first = self.next;
        let result = self.store().and_then(|s| {
            let mut batch = s.db.batch().durability(Some(PersistMode::SyncData));
            for (i, (r, _)) in appends.iter().enumerate() {
                batch.insert(&s.records, (first + i as u64).to_be_bytes(), r.as_slice());
            }
            batch.commit().map_err(StoreError::from)
        });
        global()
            .local_journal_fsync_seconds
            .observe(start.elapsed().as_secs_f64());
        let result = match result {
            Ok(()) => {
                self.next += appends.len() as u64;
                let bytes: u64 = appends.iter().map(|(r, _)| r.len() as u64).sum();
                self.counts
                    .depth
                    .fetch_add(appends.len() as u64, Ordering::Relaxed);
                self.counts.bytes.fetch_add(bytes, Ordering::Relaxed);
                self.counts.publish();
                self.appended.wake();
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        };
        for (_, w) in appends {
            let _ = w.send(result.clone());
        }
    }

    fn oldest(&mut self, n: usize) -> Result<Vec<(u64, fjall::Slice)>, StoreError> {
        let from = self.from;
        let s = self.store()?;
        let mut out = Vec::new();
        for kv in s.records.range(from.to_be_bytes()..) {
            if out.len() >= n {
                break;
            }
            let (k, v) = kv.into_inner()?;
            if let Some(seq) = key(&k) {
                out.push((seq, v));
            }
        }
        Ok(out)
    }

    fn remove(&mut self, drained: Vec<Stored>) -> Result<(), StoreError> {
        let result = self.store().and_then(|s| {
            let mut batch = s.db.batch().durability(None);
            for d in &drained {
                batch.remove(&s.records, d.seq.to_be_bytes());
            }
            batch.commit().map_err(StoreError::from)
        });
        match result {
            Ok(()) => {
                if let Some(last) = drained.iter().map(|d| d.seq).max() {
                    self.from = self.from.max(last + 1);
                }
                let bytes: u64 = drained.iter().map(|d| d.bytes).sum();
                self.counts
                    .depth
                    .fetch_sub(drained.len() as u64, Ordering::Relaxed);
                self.counts.bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.counts.publish();
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}
