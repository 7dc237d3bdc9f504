//! One journaled activity as stored: what `received_activity` needs, and when it arrived.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sluice_db::inbox::NewReceived;

/// A verified activity waiting for the drain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The activity's id (the database's dedup key).
    pub activity_id: String,
    /// Its actor.
    pub actor: String,
    /// Its top-level type.
    pub kind: String,
    /// The body exactly as received.
    pub raw: String,
    /// The signer, when it is not the actor (a forward).
    pub signer: Option<String>,
    /// When we acknowledged it: becomes `received_at`, so journal lag counts the local wait.
    pub received_at: DateTime<Utc>,
}

impl Record {
    /// The record of `row`, received at `at`.
    pub fn new(row: NewReceived, at: DateTime<Utc>) -> Record {
        Record {
            activity_id: row.activity_id,
            actor: row.actor,
            kind: row.kind,
            raw: row.raw,
            signer: row.signer,
            received_at: at,
        }
    }

    /// The row for the insert.
    pub fn row(&self) -> NewReceived {
        NewReceived {
            activity_id: self.activity_id.clone(),
            actor: self.actor.clone(),
            kind: self.kind.clone(),
            raw: self.raw.clone(),
            signer: self.signer.clone(),
        }
    }

    /// Its stored form (JSON: readable with any tool when something goes wrong).
    pub fn encode(&self) -> Vec<u8> {
        // Strings and a timestamp: serialization cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a stored record.
    pub fn decode(bytes: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
