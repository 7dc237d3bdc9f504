//! Where the time of one unit of work goes: database, network, the rest.
//!
//! The founding incident was "each activity takes a second and nothing says why". So every
//! instrumented database operation and every outgoing HTTP request adds its wall time to
//! the *spend* of the task it runs in; the receiver and the pipeline read the totals at the
//! end of a request or batch and export them as separate histograms (DB, network, CPU =
//! everything else: parsing, signature checks, scheduling).
//!
//! The accumulator is task-local: work spawned onto another task is not counted unless
//! that task is measured too.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

tokio::task_local! {
    static SPEND: Accumulator;
}

#[derive(Default)]
struct Accumulator {
    db_nanos: AtomicU64,
    net_nanos: AtomicU64,
}

/// The split of one measured unit of work.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Wall time of the whole unit.
    pub total: Duration,
    /// Time inside database operations.
    pub db: Duration,
    /// Time inside outgoing network requests.
    pub net: Duration,
}

impl Spent {
    /// Everything that was neither database nor network: CPU work and scheduling.
    pub fn cpu(&self) -> Duration {
        self.total.saturating_sub(self.db + self.net)
    }
}

/// Runs `fut`, returning its output and how its time divided.
pub async fn measure<F: Future>(fut: F) -> (F::Output, Spent) {
    let start = Instant::now();
    SPEND
        .scope(Accumulator::default(), async move {
            let out = fut.await;
            let spent = SPEND.with(|a| Spent {
                total: start.elapsed(),
                db: Duration::from_nanos(a.db_nanos.load(Ordering::Relaxed)),
                net: Duration::from_nanos(a.net_nanos.load(Ordering::Relaxed)),
            });
            (out, spent)
        })
        .await
}

/// Runs `fut` without adding its database or network time to the current task's spend:
/// for work whose wall time the caller accounts for itself (e.g. a stage of concurrent
/// fetches, whose summed durations would exceed the time the stage took).
pub async fn untracked<F: Future>(fut: F) -> F::Output {
    SPEND.scope(Accumulator::default(), fut).await
}

/// Adds database time to the current task's spend (no-op outside [`measure`]).
pub fn add_db(d: Duration) {
    let _ = SPEND.try_with(|a| a.db_nanos.fetch_add(d.as_nanos() as u64, Ordering::Relaxed));
}

/// Adds network time to the current task's spend (no-op outside [`measure`]).
pub fn add_net(d: Duration) {
    let _ = SPEND.try_with(|a| {
        a.net_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spend_splits_db_and_network() {
        let ((), s) = measure(async {
            add_db(Duration::from_millis(3));
            add_net(Duration::from_millis(5));
        })
        .await;
        assert_eq!(s.db, Duration::from_millis(3));
        assert_eq!(s.net, Duration::from_millis(5));
        add_db(Duration::from_secs(1)); // outside a measured scope: ignored, no panic

        let ((), s) = measure(async {
            untracked(async { add_net(Duration::from_secs(9)) }).await;
            add_net(Duration::from_millis(1));
        })
        .await;
        assert_eq!(
            s.net,
            Duration::from_millis(1),
            "untracked time is not counted"
        );
    }
}
