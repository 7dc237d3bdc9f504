//! How many rows the next claim asks for.
//!
//! A batch pays the same round-trips whatever its size (4 for known activities), so with the
//! database far away a batch of `pipeline_batch_size` rows spends most of its time waiting:
//! at 25 ms one way, 200 ms of a 390 ms batch of 512. While the journal has a backlog (the
//! last claim came back full) and the batch's round-trips (their count × the connection's
//! round-trip time, measured when it was taken) took more than a quarter of its time, the
//! next claim asks for twice as many rows, up to `pipeline_batch_max`; below an eighth it
//! halves again. A claim that comes back short (no backlog) or a batch that fetched (its time
//! is the network's, and `pipeline_fetch_per_batch` is per batch) returns to
//! `pipeline_batch_size`. With the database near, a round-trip is a fraction of a
//! millisecond, and batches keep their configured size.
//!
//! Growing keeps journal order (one batch at a time, each after the previous one's commit)
//! and the round-trips of a batch; only their share of its time shrinks.

use crate::settings::PipelineConfig;
use std::time::Duration;

/// What the last batch showed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observed {
    /// Rows the claim asked for.
    pub asked: usize,
    /// Rows it got.
    pub claimed: usize,
    /// The batch's round-trips.
    pub roundtrips: u64,
    /// One round-trip on the processor's connection.
    pub rtt: Duration,
    /// The batch's wall time.
    pub took: Duration,
    /// It fetched remote documents.
    pub fetched: bool,
}

/// The next claim's limit.
pub(crate) fn next_limit(s: &PipelineConfig, o: &Observed) -> usize {
    let base = s.batch_size.max(1);
    let max = s.batch_max.max(base);
    if o.claimed < o.asked || o.fetched {
        return base;
    }
    let waiting = o
        .rtt
        .saturating_mul(u32::try_from(o.roundtrips).unwrap_or(u32::MAX));
    if waiting.saturating_mul(4) > o.took {
        o.asked.saturating_mul(2).clamp(base, max)
    } else if waiting.saturating_mul(8) < o.took {
        (o.asked / 2).clamp(base, max)
    } else {
        o.asked.clamp(base, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PipelineConfig {
        PipelineConfig {
            batch_size: 512,
            batch_max: 4096,
            ..PipelineConfig::default()
        }
    }

    fn full(asked: usize, rtt_ms: u64, took_ms: u64) -> Observed {
        Observed {
            asked,
            claimed: asked,
            roundtrips: 4,
            rtt: Duration::from_millis(rtt_ms),
            took: Duration::from_millis(took_ms),
            fetched: false,
        }
    }

    #[test]
    fn a_far_database_with_a_backlog_grows_the_batch_until_waiting_is_a_quarter() {
        let s = settings();
        // 25 ms one way: 4 round-trips of 50 ms in a batch of 390 ms.
        assert_eq!(next_limit(&s, &full(512, 50, 390)), 1024);
        assert_eq!(next_limit(&s, &full(1024, 50, 600)), 2048);
        // 200 ms of 1,000: a fifth; stays.
        assert_eq!(next_limit(&s, &full(2048, 50, 1000)), 2048);
        // Never beyond the maximum.
        assert_eq!(next_limit(&s, &full(4096, 200, 1000)), 4096);
        // The database came closer: halves, not below the configured size.
        assert_eq!(next_limit(&s, &full(2048, 1, 1000)), 1024);
        assert_eq!(next_limit(&s, &full(512, 1, 1000)), 512);
    }

    #[test]
    fn a_near_database_keeps_the_configured_size() {
        assert_eq!(next_limit(&settings(), &full(512, 0, 200)), 512);
    }

    #[test]
    fn no_backlog_or_a_fetching_batch_goes_back_to_the_configured_size() {
        let s = settings();
        let short = Observed {
            claimed: 100,
            ..full(2048, 50, 400)
        };
        assert_eq!(next_limit(&s, &short), 512);
        let fetching = Observed {
            fetched: true,
            ..full(2048, 50, 400)
        };
        assert_eq!(next_limit(&s, &fetching), 512);
    }
}
