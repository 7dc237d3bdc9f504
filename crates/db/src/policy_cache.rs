//! The instance-policy table a stage holds in memory (the inbox, each pipeline processor,
//! the send queue): the decision table built by [`crate::instances::decision_table`] from the stored rows,
//! with the `policy_generation` it was built at. Every `sluice instance ...` change bumps
//! the generation; a stage learns the current one from a query it makes anyway (the
//! inbox's probe, the pipeline's lookup, the queue's poll) and rebuilds only when it moved
//! past the one held, so a change costs one load per process and stage, not one per
//! request.

use crate::instances::{PolicySnapshot, load_policy};
use crate::{Db, DbError};
use sluice_trust::instances::Policies;
use std::sync::{Arc, RwLock};

/// A policy table and its generation (none before the first load: everything decides as
/// an empty open table until then).
#[derive(Debug, Default)]
pub struct PolicyCache {
    current: RwLock<Held>,
    /// One load at a time; callers arriving meanwhile find it done.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default, Clone)]
struct Held {
    generation: Option<i64>,
    policies: Arc<Policies>,
}

impl PolicyCache {
    /// The generation held.
    pub fn generation(&self) -> Option<i64> {
        self.held().generation
    }

    /// The table held (empty before the first load).
    pub fn policies(&self) -> Arc<Policies> {
        self.held().policies
    }

    /// True when the table held is older than `generation`.
    pub fn is_behind(&self, generation: i64) -> bool {
        self.generation().is_none_or(|g| g < generation)
    }

    /// Holds the table of `snap` from now on.
    pub fn replace(&self, snap: &PolicySnapshot) {
        self.set(snap.generation, snap.policies());
    }

    /// Holds `policies` (built by [`crate::instances::decision_table`]) at `generation`
    /// from now on.
    pub fn set(&self, generation: i64, policies: Policies) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Held {
            generation: Some(generation),
            policies: Arc::new(policies),
        };
    }

    /// The table as of `generation` or newer: loaded (one round-trip) when the one held is
    /// older.
    pub async fn at_least(&self, db: &Db, generation: i64) -> Result<Arc<Policies>, DbError> {
        if self.is_behind(generation) {
            let _one = self.loading.lock().await;
            if self.is_behind(generation) {
                let snap = load_policy(db).await?;
                tracing::info!(
                    generation = snap.generation,
                    entries = snap.entries.len(),
                    "instance policy loaded"
                );
                self.replace(&snap);
            }
        }
        Ok(self.policies())
    }

    fn held(&self) -> Held {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::{Mode, Policy};

    #[test]
    fn a_table_is_behind_until_it_holds_the_generation_asked_for() {
        let c = PolicyCache::default();
        assert!(c.is_behind(i64::MIN), "nothing loaded yet");
        assert!(c.policies().decide_str("any.example").admits());
        c.replace(&PolicySnapshot {
            generation: 3,
            mode: Some(Mode::Open),
            entries: vec![("bad.example".into(), Policy::Block)],
        });
        assert_eq!(c.generation(), Some(3));
        assert!(!c.is_behind(3) && !c.is_behind(2));
        assert!(c.is_behind(4));
        assert!(!c.policies().decide_str("x.bad.example").admits());
    }
}
