//! `journal = "local"`: the local journal under `data_dir/journal` and its drainer.

use crate::config::{Config, JournalMode};
use anyhow::Context;
use sluice_localjournal::{LocalConfig, LocalJournal, drain};
use sluice_stage::{Handle, Shutdown, Waker};
use std::sync::Arc;

/// The journal's directory.
pub fn dir(cfg: &Config) -> std::path::PathBuf {
    cfg.data_dir.join("journal")
}

/// Opens (and locks) the local journal when configured; before the database, so a second
/// process on the same `data_dir` stops at once with the lock's message.
pub fn open(cfg: &Config) -> anyhow::Result<Option<Arc<LocalJournal>>> {
    if cfg.journal != JournalMode::Local {
        return Ok(None);
    }
    let mut local = LocalConfig::new(&dir(cfg));
    local.max_bytes = cfg.local_journal_max_bytes;
    local.retry_after = cfg.inbox().retry_after;
    let journal = LocalJournal::open(local).context("opening the local journal")?;
    tracing::info!(dir = %journal.dir().display(), pending = journal.depth(), "local journal open: acknowledging after a local fsync");
    Ok(Some(Arc::new(journal)))
}

/// The drainer stage of `journal` into the database; `journaled` wakes the pipeline.
pub fn drainer(
    journal: Option<&Arc<LocalJournal>>,
    db: &sluice_db::Db,
    journaled: Option<Waker>,
) -> Option<Handle> {
    let journal = journal?.clone();
    Some(drain::DrainConfig::default().start(
        drain::DrainDeps {
            journal,
            db: db.clone(),
            journaled,
        },
        Shutdown::new(),
    ))
}
