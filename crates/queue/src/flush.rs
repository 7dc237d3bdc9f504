//! The flusher: writes the delivery state of every worker of this process in one statement.
//!
//! Workers hand their state to their [`crate::shared::Slot`]; the flusher writes all pending
//! slots together every `flush_interval`, or at once when a worker asks (its window is full
//! of finished-but-unpersisted work, or it is stopping). One write is in flight at a time, so
//! requests arriving meanwhile are served together by the next one: the cursor write costs
//! one round-trip per flush for all instances, not one per delivery. Writes are fenced by the
//! lease; an instance the write did not reach has been taken over, and its worker stops.

use crate::shared::{Handover, QueueState, Slot};
use sluice_db::delivery;
use sluice_stage::Shutdown;
use std::sync::Arc;
use std::time::Duration;

/// Flushes until told to stop (then flushes what is left once more).
pub async fn run(shared: Arc<QueueState>, stop: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.cfg.flush_interval) => {}
            _ = shared.flush_now.notified() => {}
            _ = stop.triggered() => {
                once(&shared).await;
                return;
            }
        }
        if !once(&shared).await {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One flush of everything pending; false when the write failed.
pub async fn once(shared: &QueueState) -> bool {
    let batch: Vec<(Arc<Slot>, Handover)> = {
        let reg = shared.registry();
        reg.workers
            .values()
            .filter_map(|w| w.slot.take().map(|h| (w.slot.clone(), h)))
            .collect()
    };
    if batch.is_empty() {
        return true;
    }
    let states = batch.iter().map(|(_, h)| h.state.clone()).collect();
    let failures = batch
        .iter()
        .flat_map(|(_, h)| h.failures.iter().cloned())
        .collect();
    match delivery::flush(&shared.db, &shared.node.id, states, failures).await {
        Ok(written) => {
            let mut lost = Vec::new();
            for (slot, h) in &batch {
                if written.contains(&slot.instance_id) {
                    slot.written(h);
                } else {
                    lost.push(slot.clone());
                }
            }
            if !lost.is_empty() {
                let mut reg = shared.registry();
                for slot in lost {
                    // Only the worker this slot belongs to (not a successor).
                    if reg
                        .workers
                        .get(&slot.instance_id)
                        .is_some_and(|w| Arc::ptr_eq(&w.slot, &slot))
                    {
                        reg.abandon(slot.instance_id);
                    }
                }
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "send queue: cannot write delivery state; will retry");
            for (slot, h) in batch {
                slot.restore(h);
            }
            false
        }
    }
}
