//! The pipeline's settings (flat `pipeline_*` keys in sluice.toml).

use std::time::Duration;

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Journal rows claimed per batch.
    pub batch_size: usize,
    /// Most rows a batch grows to while the journal has a backlog and the database's
    /// round-trips dominate the batch's time (`sizing`).
    pub batch_max: usize,
    /// Claims of one row before it is given up (`failed`).
    pub max_attempts: u32,
    /// First retry delay after a transient failure; doubles per attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long a claimed row stays leased to this process (a crashed process's rows
    /// become claimable after it).
    pub lease: Duration,
    /// Longest wait for one remote fetch.
    pub fetch_timeout: Duration,
    /// Remote fetches in flight at once per batch.
    pub fetch_concurrency: usize,
    /// Rounds of "look up, then fetch what is missing" per batch (a reply to a reply to an
    /// unknown post needs one per level).
    pub fetch_rounds: usize,
    /// Remote fetches one activity may cause in one batch; past it, the activity is
    /// deferred to the slow lane (`FetchBudget`).
    pub fetch_per_activity: usize,
    /// Remote fetches one batch may cause; activities whose fetches do not fit are deferred.
    pub fetch_per_batch: usize,
    /// Keep content announced by remote communities nobody here follows (archives,
    /// relays). Off: Lemmy's rule.
    pub keep_all_announced: bool,
    /// Sleep between polls of an empty journal (a wake-up from the receiver cuts it short).
    pub idle_poll: Duration,
    /// Lease owner name, unique per processor (a processor takes back rows still leased to
    /// this name at its next claim). `sluice serve` starts it with a part that the next run
    /// of the same process shares, so that run can free its leases at start.
    pub node_id: String,
    /// Processors run by [`PipelineConfig::start`] (each with its own connection).
    pub workers: usize,
    /// The admin's policy chain (docs/policies.md), read once per batch: a reload takes
    /// effect at the next batch.
    pub policies: sluice_policy::Live,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_size: 512,
            batch_max: 4096,
            max_attempts: 5,
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            lease: Duration::from_secs(120),
            fetch_timeout: Duration::from_secs(10),
            fetch_concurrency: 16,
            fetch_rounds: 8,
            fetch_per_activity: 32,
            fetch_per_batch: 1000,
            keep_all_announced: false,
            idle_poll: Duration::from_millis(500),
            node_id: format!(
                "pipeline-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            workers: 1,
            policies: sluice_policy::Live::default(),
        }
    }
}

impl PipelineConfig {
    /// Delay before attempt `attempts + 1`: `retry_base * 2^(attempts-1)`, capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = PipelineConfig::default();
        assert_eq!(s.backoff(1), Duration::from_secs(10));
        assert_eq!(s.backoff(2), Duration::from_secs(20));
        assert_eq!(s.backoff(40), Duration::from_secs(3600));
    }
}
