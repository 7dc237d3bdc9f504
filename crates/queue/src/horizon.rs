//! Noticing new work: the horizon, and routing it to the workers.
//!
//! Outbound ids come from a sequence, so a transaction can commit id N+1 while another still
//! holds N uncommitted. Delivering N+1 and moving a cursor past N would lose N. So workers
//! only read up to the **horizon**: the highest id below which every id is settled
//! (committed, or rolled back for good). Each poll (one query, see
//! [`sluice_db::delivery::probe_horizon`]):
//! - if every id between the horizon and the newest committed id is committed, the horizon
//!   moves to the newest id at once (the usual case);
//! - otherwise there is a gap: the poll notes the newest id and the transactions in progress
//!   at that moment. Every transaction still holding a lower id is among them (an appender
//!   takes its transaction id before it draws an outbound id: a trigger sees to that). Once
//!   they have all ended, a later poll moves the horizon to the noted id.
//!
//! When the horizon moves, one query lists the instances with targets in the new range, and
//! their workers are woken with the highest id for them; instances served by no worker here
//! make the leaser try to claim them.

use crate::shared::QueueState;
use sluice_db::delivery::{self, Probe};
use std::sync::Arc;
use std::time::Duration;

/// A gap being waited out: the newest id seen, and the transactions then in progress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gap {
    /// The horizon may move here once `xids` have ended.
    pub upto: i64,
    /// Transactions in progress when `upto` was seen.
    pub xids: Vec<i64>,
}

/// The new horizon after a probe (and the gap still waited on).
pub fn advance(horizon: i64, gap: &mut Option<Gap>, p: &Probe) -> i64 {
    if p.max_id <= horizon {
        return horizon;
    }
    if p.visible == p.max_id - horizon {
        *gap = None;
        return p.max_id;
    }
    let mut h = horizon;
    if let Some(g) = gap.take_if(|_| p.waited_done) {
        h = h.max(g.upto);
    }
    if gap.is_none() && p.max_id > h {
        *gap = Some(Gap {
            upto: p.max_id,
            xids: p.in_progress.clone(),
        });
    }
    h
}

/// Polls until shutdown.
pub async fn run(shared: Arc<QueueState>) {
    let mut horizon = 0i64;
    let mut routed: Option<i64> = None;
    let mut gap: Option<Gap> = None;
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.cfg.poll_interval) => {}
            _ = shared.poll_now.notified() => {}
            _ = shared.shutdown.triggered() => return,
        }
        let waiting = gap.as_ref().map(|g| g.xids.clone()).unwrap_or_default();
        let probe = match delivery::probe_horizon(&shared.db, horizon, &waiting).await {
            Ok(p) => p,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "send queue: cannot poll the outbound log");
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        // A policy change reaches the workers' windows (they decide before each launch).
        if let Err(e) = shared
            .policies
            .at_least(&shared.db, probe.policy_generation)
            .await
        {
            tracing::warn!(error = %e, "send queue: cannot reload the instance policy");
        }
        let had_gap = gap.is_some();
        let next = advance(horizon, &mut gap, &probe);
        if gap.is_some() && !had_gap {
            // Settling a new gap takes another poll; do not wait a whole interval for it.
            let s = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                s.poll_now.wake();
            });
        }
        if next > horizon && route(&shared, routed, next).await {
            horizon = next;
            routed = Some(next);
        }
    }
}

/// Publishes a new horizon and wakes the workers with work below it. False when the routing
/// query failed (the same range is routed at the next poll).
async fn route(shared: &QueueState, routed: Option<i64>, horizon: i64) -> bool {
    let work = match routed {
        // First horizon of this process: every worker started so far reads from its cursor.
        None => None,
        Some(from) => match delivery::new_work(&shared.db, from, horizon).await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "send queue: cannot route new work");
                return false;
            }
        },
    };
    let mut unowned = false;
    {
        // Under the registry lock: a worker registered concurrently either sees the new
        // horizon as its first hint or gets the hint below.
        let reg = shared.registry();
        shared.horizon.send_replace(horizon);
        match &work {
            None => {
                for w in reg.workers.values() {
                    w.hint.send_replace(horizon);
                }
                // Instances first targeted since the last heartbeat: claim them now.
                unowned = true;
            }
            Some(work) => {
                for n in work {
                    match reg.workers.get(&n.instance_id) {
                        Some(w) => {
                            w.hint.send_if_modified(|h| {
                                let newer = n.max_id > *h;
                                *h = (*h).max(n.max_id);
                                newer
                            });
                        }
                        None => unowned |= !reg.releasing.contains(&n.instance_id),
                    }
                }
            }
        }
    }
    if unowned {
        shared.claim_now.notify_one();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(max_id: i64, visible: i64, in_progress: &[i64], waited_done: bool) -> Probe {
        Probe {
            max_id,
            visible,
            in_progress: in_progress.to_vec(),
            waited_done,
            policy_generation: 0,
        }
    }

    #[test]
    fn contiguous_ids_move_the_horizon_at_once() {
        let mut gap = None;
        assert_eq!(advance(10, &mut gap, &probe(15, 5, &[7], false)), 15);
        assert_eq!(gap, None);
        assert_eq!(advance(15, &mut gap, &probe(15, -1, &[], false)), 15);
    }

    #[test]
    fn a_gap_waits_for_the_transactions_in_progress_when_it_was_seen() {
        let mut gap = None;
        // 11 is missing (in progress or rolled back): wait for xids 100 and 101.
        assert_eq!(advance(10, &mut gap, &probe(12, 1, &[100, 101], false)), 10);
        assert_eq!(gap.as_ref().map(|g| g.upto), Some(12));
        // Still running.
        assert_eq!(advance(10, &mut gap, &probe(13, 2, &[101], false)), 10);
        assert_eq!(gap.as_ref().map(|g| g.upto), Some(12));
        // They ended: settled up to 12; 13 is waited for with the new snapshot.
        assert_eq!(advance(10, &mut gap, &probe(13, 2, &[300], true)), 12);
        assert_eq!(
            gap.as_ref().map(|g| (g.upto, g.xids.clone())),
            Some((13, vec![300]))
        );
        // Now contiguous from 12.
        assert_eq!(advance(12, &mut gap, &probe(13, 1, &[], true)), 13);
        assert_eq!(gap, None);
    }
}
