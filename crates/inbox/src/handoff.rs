//! Where an acknowledged activity goes: the database's journal (group-commit insert, one
//! round-trip) or the local journal (group fsync under `data_dir`, drained to the database
//! in batches, no round-trip). Chosen once at start (`journal = "postgres" | "local"`).

use crate::Refusal;
use crate::journal::{Journal, JournalStats, Journaled};
use sluice_db::inbox::NewReceived;
use sluice_localjournal::LocalJournal;
use std::sync::Arc;

/// The request path's one durable write.
pub enum Handoff {
    /// `received_activity` directly.
    Postgres(Journal),
    /// The local journal; its drainer runs beside it.
    Local(Arc<LocalJournal>),
}

impl Handoff {
    /// Stores one verified activity durably; returns once it is.
    pub async fn append(&self, row: NewReceived) -> Result<Journaled, Refusal> {
        match self {
            Handoff::Postgres(j) => Ok(j.append(row).await?),
            Handoff::Local(l) => {
                let a = l.append(row).await?;
                Ok(Journaled {
                    duplicate: a.duplicate,
                })
            }
        }
    }

    /// Group-commit counters of the database journal (none for the local one).
    pub fn stats(&self) -> JournalStats {
        match self {
            Handoff::Postgres(j) => j.stats(),
            Handoff::Local(_) => JournalStats::default(),
        }
    }
}
