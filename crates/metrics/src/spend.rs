//! Where the time of one unit of work goes: database, network, the rest; and how many
//! database round-trips it paid.
//!
//! The founding incident was "each activity takes a second and nothing says why". So every
//! instrumented database operation adds its wall time and round-trips, every outgoing HTTP
//! request its wall time, and every signature check its CPU time to the *spend* of the task
//! it runs in; the receiver and the pipeline read the totals at the end of a request or
//! batch and export them (DB, network, CPU = everything else: parsing, signature checks,
//! scheduling; round-trips per acknowledgement or per batch). Stage code therefore passes
//! no counters around: whatever it awaits within the unit is counted.
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
    verify_nanos: AtomicU64,
    /// Round-trips in millionths: a statement shared by several units (the inbox's group
    /// commit) is paid in fractions.
    roundtrip_micros: AtomicU64,
}

const MICROS: f64 = 1_000_000.0;

/// The split of one measured unit of work.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Wall time of the whole unit.
    pub total: Duration,
    /// Time inside database operations.
    pub db: Duration,
    /// Time inside outgoing network requests.
    pub net: Duration,
    /// CPU time of signature checks (part of [`Spent::cpu`]).
    pub verify: Duration,
    /// Database round-trips, a share of a shared statement counting as its fraction.
    pub roundtrips: f64,
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
                verify: Duration::from_nanos(a.verify_nanos.load(Ordering::Relaxed)),
                roundtrips: a.roundtrip_micros.load(Ordering::Relaxed) as f64 / MICROS,
            });
            (out, spent)
        })
        .await
}

/// Runs `fut` without adding anything it spends to the current task's spend: for work whose
/// wall time the caller accounts for itself (e.g. a stage of concurrent fetches, whose
/// summed durations would exceed the time the stage took).
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

/// Adds the CPU time of a signature check (no-op outside [`measure`]).
pub fn add_verify(d: Duration) {
    let _ = SPEND.try_with(|a| {
        a.verify_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed)
    });
}

/// Adds database round-trips, or a share of them (no-op outside [`measure`]).
pub fn add_roundtrips(n: f64) {
    let micros = (n.max(0.0) * MICROS).round() as u64;
    let _ = SPEND.try_with(|a| a.roundtrip_micros.fetch_add(micros, Ordering::Relaxed));
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

    #[tokio::test]
    async fn spend_counts_roundtrips_and_their_shares() {
        let ((), s) = measure(async {
            add_roundtrips(2.0);
            add_roundtrips(1.0 / 3.0);
            add_verify(Duration::from_micros(40));
            untracked(async { add_roundtrips(5.0) }).await;
        })
        .await;
        assert!((s.roundtrips - 7.0 / 3.0).abs() < 1e-5, "{}", s.roundtrips);
        assert_eq!(s.verify, Duration::from_micros(40));
    }
}
