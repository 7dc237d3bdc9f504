//! One inbound scenario, end to end: deploy, warm up, sign, send for a while, drain, measure,
//! cross-check.
//!
//! Phases and why:
//! 1. **Deploy**: a fresh database and sluice, the proxy with the scenario's delay.
//! 2. **Warm-up**: every user of every sending instance posts once, and the journal drains.
//!    sluice now holds every signer's key and every actor: the timed phase measures a
//!    receiver in steady state, not its first contact (which costs fetches from the peers).
//! 3. **Sign** the timed phase's activities (see [`crate::presign`]).
//! 4. **Timed phase**: every sender sends until the duration is over (or one runs out of
//!    signed activities: then all stop, so the window only has all senders busy). A sampler
//!    reads the journal's backlog every 500 ms.
//! 5. **Drain**: wait until the journal has nothing pending.
//! 6. **Measure**: sluice's counters, `pg_stat_statements`, `/proc`, the journal rows of
//!    every activity sent, and the tables, compared with what the acknowledged activities
//!    imply ([`Expected`]).

use crate::observe::{self, JournalRow, Statements, Tables};
use crate::peers::Instance;
use crate::presign::{self, Inboxes};
use crate::procstat;
use crate::scrape::{self, Snapshot};
use crate::send::{self, Mode, Sent, Stop};
use crate::stack::{Deployed, Server, StackOptions};
use crate::workload::{Expected, Generator, Mix};
use crate::{BenchError, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// sluice's default `pool_size`.
const DEFAULT_POOL_SIZE: usize = 24;

/// What to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name in the report.
    pub name: String,
    /// One-way delay between sluice and PostgreSQL.
    pub one_way_ms: u64,
    /// Sending instances.
    pub senders: usize,
    /// How each sends.
    pub mode: Mode,
    /// Length of the timed phase.
    pub duration: Duration,
    /// Users per sending instance.
    pub persons: usize,
    /// Upper guess of the whole scenario's acknowledgements per second, to size the signed
    /// pools (a sender that runs out ends the timed phase early; the report says so).
    pub rate_cap: f64,
    /// Extra `SLUICE_*` settings for this scenario's sluice.
    pub env: Vec<(String, String)>,
    /// Offered load, activities per second over all senders (`None`: as fast as answers
    /// come). Paced senders model instances sending what their users produce.
    pub paced: Option<f64>,
    /// The sluice under test acknowledges after a local fsync (`journal = "local"`), so a
    /// request does not wait for the database's distance.
    pub local_journal: bool,
}

impl Scenario {
    /// Activities to sign per sender: the duration at the fastest rate the scenario could
    /// reach (with the database's journal each request waits at least two one-way delays),
    /// plus a margin.
    pub fn pool_per_sender(&self) -> usize {
        let wait = if self.local_journal {
            0
        } else {
            2 * self.one_way_ms
        };
        let floor = wait as f64 / 1000.0 + 0.001;
        let cap = self.paced.unwrap_or(self.rate_cap);
        let per_sender = (self.mode.window() as f64 / floor).min(cap / self.senders as f64);
        (per_sender * self.duration.as_secs_f64() * 1.1).ceil() as usize + 16
    }
}

/// What a scenario measured (the JSON report's `scenarios[]`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Scenario name.
    pub name: String,
    /// One-way delay sluice ↔ PostgreSQL, ms.
    pub one_way_db_delay_ms: u64,
    /// Sending instances.
    pub senders: usize,
    /// `serial` or `windowed:N`, with `, paced N/s` when the offered load was paced.
    pub mode: String,
    /// Activities sent in the timed phase.
    pub sent: usize,
    /// Of those, acknowledged (202).
    pub acked: usize,
    /// Of those, applied (journal `done`).
    pub processed: usize,
    /// Sent (timed phase or warm-up) and neither applied nor refused with an `rc`.
    pub lost: usize,
    /// Acknowledgements per second in the timed window, all senders.
    pub acked_per_s: f64,
    /// Activities applied per second in the timed window (journal rows that became `done`).
    pub processed_per_s: f64,
    /// Acknowledgement latency as the sender sees it, ms.
    pub ack_p50_ms: f64,
    /// 99th percentile.
    pub ack_p99_ms: f64,
    /// From first send to the journal's `processed_at`, ms.
    pub applied_p50_ms: f64,
    /// 99th percentile.
    pub applied_p99_ms: f64,
    /// Database round-trips per acknowledged activity on the request path (sluice's counter).
    pub roundtrips_per_ack: f64,
    /// Database round-trips per processed activity in the pipeline (sluice's counters).
    pub roundtrips_per_processed: f64,
    /// sluice's CPU seconds from the start of the timed phase to the end of the drain.
    pub cpu_s: f64,
    /// sluice's peak resident memory, MiB.
    pub peak_rss_mb: f64,

    /// Acknowledgements per second per sender: slowest, mean, fastest.
    pub acked_per_s_per_sender: [f64; 3],
    /// Length of the timed window, s.
    pub window_s: f64,
    /// A sender ran out of signed activities and ended the window early.
    pub pool_exhausted: bool,
    /// Activities refused with an `rc` (HTTP refusal, or journal `ignored`/`failed`), by rc.
    pub refused: BTreeMap<String, usize>,
    /// Requests that were retried (429, 5xx, network).
    pub retried: usize,
    /// Oldest pending journal row during the window, s (max over 500 ms samples).
    pub journal_lag_max_s: f64,
    /// Most pending journal rows seen during the window.
    pub journal_depth_max: i64,
    /// Time to drain the journal after the window, s.
    pub drain_s: f64,
    /// Activities per journal insert (mean).
    pub journal_batch_mean: f64,
    /// Activities per pipeline batch (mean).
    pub pipeline_batch_mean: f64,
    /// Database round-trips per non-empty pipeline batch, lookup and write only
    /// (3 when every activity refers to known things: 1 lookup + 2 write).
    pub lookup_write_roundtrips_per_batch: f64,
    /// Remote fetches sluice made (0 in steady state).
    pub fetches: f64,
    /// Mean wait for a database connection from sluice's pool, ms.
    pub pool_checkout_ms: f64,
    /// Where the acknowledgement time went, ms per ack: `[db, network, cpu]`.
    pub ack_split_ms: [f64; 3],
    /// Where processing time went, ms per activity: `[db, network, cpu]`.
    pub processing_split_ms: [f64; 3],
    /// PostgreSQL's CPU seconds over the same span (its backends).
    pub postgres_cpu_s: Option<f64>,
    /// The load generator's CPU seconds over the same span.
    pub bench_cpu_s: f64,
    /// `pg_stat_statements` over the same span, when available.
    pub statements: Option<Statements>,
    /// sluice's round-trip counters for the statements `statements` counts:
    /// `[journal inserts (the inbox's append or the local drain), ingest_claim, ingest_write]`.
    pub sluice_trips: [f64; 3],
    /// The tables as read.
    pub tables: Tables,
    /// The tables as the applied activities imply.
    pub expected: Expected,
    /// Seconds spent signing the timed phase's requests.
    pub signing_s: f64,
    /// sluice's database pool size (each connection prepares a statement once).
    pub pool_size: usize,
}

/// Everything the scenarios share.
pub struct Bench {
    /// Where sluice and PostgreSQL come from.
    pub stack: StackOptions,
    /// The PostgreSQL server.
    pub server: Server,
    /// The simulated instances (as many as the largest scenario needs).
    pub instances: Vec<Instance>,
    /// The HTTP client senders use.
    pub client: reqwest::Client,
}

pub(crate) fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The `q` quantile (0..=1) of `v` (sorted in place), nearest rank.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

pub(crate) fn seed(name: &str, i: usize) -> u64 {
    name.bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
        .wrapping_add(i as u64)
}

/// Sends one list per instance concurrently, all in `mode`, until `stop`.
pub(crate) async fn send_all(
    client: &reqwest::Client,
    pools: Vec<Vec<send::Prepared>>,
    mode: Mode,
    stop: Option<Arc<Stop>>,
    pace: Option<Duration>,
) -> Vec<send::SenderRun> {
    // Without a stop signal (the warm-up), every sender sends everything.
    let timed = stop.is_some();
    let stop = stop.unwrap_or_default();
    let runs = pools.into_iter().map(|p| {
        tokio::spawn(send::run(
            client.clone(),
            p,
            mode,
            stop.clone(),
            timed,
            pace,
        ))
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_default())
        .collect()
}

/// Waits until nothing is pending in the journal, nor in sluice's local journal
/// (`journal = "local"`: acknowledged, not yet in the database), at most `timeout`; returns
/// the wait.
pub(crate) async fn drain(
    client: &reqwest::Client,
    base: &str,
    db: &sluice_db::Db,
    timeout: Duration,
) -> Result<f64> {
    let start = Instant::now();
    loop {
        let local = scrape::scrape(client, base)
            .await?
            .sum("sluice_local_journal_depth");
        let b = observe::backlog(db).await?;
        if b.depth == 0 && local == 0.0 {
            return Ok(start.elapsed().as_secs_f64());
        }
        if start.elapsed() > timeout {
            return Ok(start.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Bench {
    /// Runs `sc`.
    pub async fn run(&self, sc: &Scenario) -> Result<Outcome> {
        if sc.senders > self.instances.len() {
            return Err(BenchError::Setup(format!(
                "{} needs {} instances, {} started",
                sc.name,
                sc.senders,
                self.instances.len()
            )));
        }
        let db_name = format!(
            "bench_{}",
            sc.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let delay = Duration::from_millis(sc.one_way_ms);
        let mut deployed =
            Deployed::start(&self.stack, &self.server, &db_name, delay, &sc.env).await?;
        let result = self.measure(sc, &deployed).await;
        if result.is_err() {
            eprintln!("sluice log:\n{}", deployed.log());
        }
        deployed.stop();
        result
    }

    async fn measure(&self, sc: &Scenario, d: &Deployed) -> Result<Outcome> {
        let instances = &self.instances[..sc.senders];
        let inboxes = Inboxes::of(&d.base);
        let prefixes: Vec<String> = instances
            .iter()
            .map(|i| i.peer.base().to_string())
            .collect();
        let mut generators = generators(instances, d, sc.mode, &sc.name);

        // 2. Warm-up.
        let warm_runs = self
            .warm_up(instances, &mut generators, &inboxes, d)
            .await?;

        // 3. Sign.
        let (pools, signing_s) =
            presign::pools(instances, &mut generators, &inboxes, sc.pool_per_sender()).await?;

        // 4. Timed phase.
        let before = scrape::scrape(&self.client, &d.base).await?;
        if self.server.pgss {
            observe::reset_statements(&d.db).await?;
        }
        let pg_pid = self.server.postmaster_pid();
        let cpu0 = d.pid.map(procstat::cpu_seconds);
        let pg0 = pg_pid.map(procstat::tree_cpu_seconds);
        let own0 = procstat::own_cpu_seconds();
        let stop = Arc::new(Stop::default());
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = tokio::spawn(sample(d.db.clone(), sampling.clone()));
        eprintln!(
            "  timed phase: {} s (sluice pid {})",
            sc.duration.as_secs(),
            d.pid.unwrap_or(0)
        );
        let t0 = Instant::now();
        let t0_wall = SystemTime::now();
        let timer = {
            let stop = stop.clone();
            let duration = sc.duration;
            tokio::spawn(async move {
                tokio::time::sleep(duration).await;
                stop.raise();
            })
        };
        let runs = send_all(
            &self.client,
            pools,
            sc.mode,
            Some(stop.clone()),
            sc.paced
                .map(|r| Duration::from_secs_f64(sc.senders as f64 / r)),
        )
        .await;
        timer.abort();
        stop.raise();
        let t_stop = stop.at().unwrap_or_else(Instant::now);
        let window = (t_stop - t0).as_secs_f64().max(1e-6);
        let t_stop_wall = unix(t0_wall) + window;
        sampling.store(false, Ordering::Relaxed);
        let (lag_max, depth_max) = sampler.await.unwrap_or((0.0, 0));

        // 5. Drain.
        let drain_s = drain(
            &self.client,
            &d.base,
            &d.db,
            Duration::from_secs(120).max(sc.duration * 3),
        )
        .await?;

        // 6. Measure.
        let after = scrape::scrape(&self.client, &d.base).await?;
        let cpu_s = match (d.pid, cpu0) {
            (Some(pid), Some(c0)) => procstat::cpu_seconds(pid) - c0,
            _ => 0.0,
        };
        let postgres_cpu_s = match (pg_pid, pg0) {
            (Some(pid), Some(c0)) => Some(procstat::tree_cpu_seconds(pid) - c0),
            _ => None,
        };
        let bench_cpu_s = procstat::own_cpu_seconds() - own0;
        let peak_rss_mb = d.pid.map_or(0.0, procstat::peak_rss_mb);
        let statements = if self.server.pgss {
            Some(observe::statements(&d.db).await?)
        } else {
            None
        };
        let journal = observe::journal(&d.db, &prefixes).await?;
        let tables = observe::tables(&d.db, &prefixes).await?;

        let mut o = Outcome {
            name: sc.name.clone(),
            one_way_db_delay_ms: sc.one_way_ms,
            senders: sc.senders,
            mode: match sc.paced {
                Some(r) => format!("{}, paced {r:.0}/s", sc.mode.label()),
                None => sc.mode.label(),
            },
            window_s: window,
            pool_exhausted: runs.iter().any(|r| r.exhausted),
            journal_lag_max_s: lag_max,
            journal_depth_max: depth_max,
            drain_s,
            cpu_s,
            peak_rss_mb,
            postgres_cpu_s,
            bench_cpu_s,
            statements,
            tables,
            signing_s,
            pool_size: self
                .stack
                .sluice_env
                .iter()
                .chain(&sc.env)
                .rev()
                .find(|(k, _)| k == "SLUICE_POOL_SIZE")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(DEFAULT_POOL_SIZE),
            ..Outcome::default()
        };
        counters(&mut o, &before, &after);
        let timed: Vec<&Sent> = runs.iter().flat_map(|r| &r.sent).collect();
        o.sent = timed.len();
        o.acked = timed.iter().filter(|s| s.acked()).count();
        o.retried = timed.iter().filter(|s| s.attempts > 1).count();
        let per_sender: Vec<f64> = runs
            .iter()
            .map(|r| {
                r.sent
                    .iter()
                    .filter(|s| s.acked() && s.finished <= t_stop)
                    .count() as f64
                    / window
            })
            .collect();
        o.acked_per_s = per_sender.iter().sum();
        o.acked_per_s_per_sender = [
            per_sender.iter().copied().fold(f64::INFINITY, f64::min),
            o.acked_per_s / per_sender.len().max(1) as f64,
            per_sender.iter().copied().fold(0.0, f64::max),
        ];
        let mut acks: Vec<f64> = timed
            .iter()
            .filter(|s| s.acked())
            .map(|s| s.latency() * 1000.0)
            .collect();
        o.ack_p50_ms = quantile(&mut acks, 0.50);
        o.ack_p99_ms = quantile(&mut acks, 0.99);
        let mut applied = Vec::new();
        for s in &timed {
            if let Some(row) = journal.get(&s.id)
                && row.state == "done"
            {
                o.processed += 1;
                if let Some(p) = row.processed {
                    applied.push((p - unix(s.first_sent)) * 1000.0);
                }
            }
        }
        o.applied_p50_ms = quantile(&mut applied, 0.50);
        o.applied_p99_ms = quantile(&mut applied, 0.99);
        o.processed_per_s = journal
            .values()
            .filter(|r| {
                r.state == "done"
                    && r.processed
                        .is_some_and(|p| p >= unix(t0_wall) && p <= t_stop_wall)
            })
            .count() as f64
            / window;

        let settled = settle(&warm_runs, &runs, &journal);
        o.lost = settled.lost;
        o.refused = settled.refused;
        o.expected = settled.expected;
        Ok(o)
    }

    /// Every user of every instance posts once (and follows, when the generator does), then
    /// the journal drains: sluice now knows every signer's key and every actor.
    pub(crate) async fn warm_up(
        &self,
        instances: &[Instance],
        generators: &mut [Generator],
        inboxes: &Inboxes,
        d: &Deployed,
    ) -> Result<Vec<send::SenderRun>> {
        let mut warm = Vec::new();
        for (inst, g) in instances.iter().zip(generators.iter_mut()) {
            let mut plan: Vec<_> = (0..g.persons()).map(|p| g.warm_up_post(p)).collect();
            plan.extend((0..g.persons()).filter_map(|p| g.warm_up_follow(p)));
            warm.push(presign::sign(inst, inboxes, plan).await?);
        }
        let warm_runs = send_all(&self.client, warm, Mode::Serial, None, None).await;
        drain(&self.client, &d.base, &d.db, Duration::from_secs(120)).await?;
        Ok(warm_runs)
    }
}

/// One generator per sending instance, seeded by the scenario's name.
pub(crate) fn generators(
    instances: &[Instance],
    d: &Deployed,
    mode: Mode,
    name: &str,
) -> Vec<Generator> {
    instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            Generator::new(
                inst.peer.base(),
                &inst.community,
                inst.persons.clone(),
                d.local_community.clone(),
                Mix::LEMMY,
                mode.window(),
                seed(name, i),
            )
        })
        .collect()
}

/// How everything sent (warm-up and timed phase) ended in the journal.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Neither applied nor refused with an `rc`.
    pub lost: usize,
    /// Refused with an `rc`, by rc.
    pub refused: BTreeMap<String, usize>,
    /// The tables the applied activities imply.
    pub expected: Expected,
}

/// Lost and refused, over everything sent; the expected tables from what was applied, per
/// instance in sending order.
pub(crate) fn settle(
    warm_runs: &[send::SenderRun],
    runs: &[send::SenderRun],
    journal: &HashMap<String, JournalRow>,
) -> Settled {
    let mut o = Settled::default();
    for (warm, timed) in warm_runs.iter().zip(runs) {
        let all: Vec<&Sent> = warm.sent.iter().chain(&timed.sent).collect();
        let mut effects = Vec::new();
        for s in all {
            let row = journal.get(&s.id);
            match (
                row.map(|r| r.state.as_str()),
                row.and_then(|r| r.error_code.clone()),
            ) {
                (Some("done"), _) => effects.push(s.effect),
                (Some("ignored" | "failed"), Some(rc)) => *o.refused.entry(rc).or_default() += 1,
                _ if !s.acked() && s.rc.is_some() => {
                    *o.refused
                        .entry(s.rc.clone().unwrap_or_default())
                        .or_default() += 1
                }
                _ => o.lost += 1,
            }
        }
        o.expected.add(&Expected::replay(&effects));
    }
    o
}

/// Differences of sluice's counters over the measured span.
fn counters(o: &mut Outcome, before: &Snapshot, after: &Snapshot) {
    let d = |name: &str| after.sum(name) - before.sum(name);
    let q = |query: &str| {
        after.with("sluice_db_roundtrips_total", "query", query)
            - before.with("sluice_db_roundtrips_total", "query", query)
    };
    let per = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let acks = d("sluice_inbox_ack_db_roundtrips_count");
    o.roundtrips_per_ack = per(d("sluice_inbox_ack_db_roundtrips_sum"), acks);
    let ingest = after.with_prefix("sluice_db_roundtrips_total", "query", "ingest_")
        - before.with_prefix("sluice_db_roundtrips_total", "query", "ingest_");
    let processed = d("sluice_pipeline_activities_total")
        - (after.with("sluice_pipeline_activities_total", "result", "retry")
            - before.with("sluice_pipeline_activities_total", "result", "retry"));
    o.roundtrips_per_processed = per(ingest, processed);
    let batches = d("sluice_pipeline_batch_size_count");
    o.pipeline_batch_mean = per(d("sluice_pipeline_batch_size_sum"), batches);
    o.lookup_write_roundtrips_per_batch = per(q("ingest_lookup") + q("ingest_write"), batches);
    o.journal_batch_mean = per(
        d("sluice_journal_insert_batch_size_sum"),
        d("sluice_journal_insert_batch_size_count"),
    );
    o.fetches = d("sluice_fetch_duration_seconds_count");
    o.pool_checkout_ms = per(
        d("sluice_db_pool_checkout_seconds_sum"),
        d("sluice_db_pool_checkout_seconds_count"),
    ) * 1000.0;
    // Inserts into the journal table: the inbox's own with `journal = "postgres"`, the
    // drainer's with `journal = "local"` (the other is 0).
    let journal_inserts = q("journal_append") + q("local_journal_drain");
    o.sluice_trips = [journal_inserts, q("ingest_claim"), q("ingest_write")];
    let split = |family: &str, n: f64| {
        let sum = format!("{family}_sum");
        ["db", "network", "cpu"].map(|part| {
            per(
                after.with(&sum, "part", part) - before.with(&sum, "part", part),
                n,
            ) * 1000.0
        })
    };
    o.ack_split_ms = split("sluice_inbox_ack_time_seconds", acks);
    // The pipeline records one sample per batch, already divided by the batch's size.
    o.processing_split_ms = split("sluice_pipeline_time_seconds", batches);
}

/// Samples the journal backlog every 500 ms while `on`; returns the worst lag and depth.
pub(crate) async fn sample(db: sluice_db::Db, on: Arc<AtomicBool>) -> (f64, i64) {
    let (mut lag, mut depth) = (0.0_f64, 0_i64);
    while on.load(Ordering::Relaxed) {
        if let Ok(b) = observe::backlog(&db).await {
            lag = lag.max(b.lag);
            depth = depth.max(b.depth);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (lag, depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 50.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut [3.0], 0.99), 3.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn pools_cover_the_duration_at_the_fastest_possible_rate() {
        let sc = Scenario {
            name: "x".into(),
            one_way_ms: 25,
            senders: 1,
            mode: Mode::Serial,
            duration: Duration::from_secs(60),
            persons: 4,
            rate_cap: 4000.0,
            env: vec![],
            paced: None,
            local_journal: false,
        };
        // At most 1 / 51 ms = 19.6/s: 60 s of that, plus 10 %.
        let n = sc.pool_per_sender();
        assert!((1300..1320).contains(&n), "{n}");
        let busy = Scenario {
            one_way_ms: 0,
            senders: 64,
            ..sc.clone()
        };
        // Capped by the whole scenario's guess: 4000/s over 64 senders.
        assert_eq!(
            busy.pool_per_sender(),
            (4000.0 / 64.0 * 60.0 * 1.1_f64).ceil() as usize + 16
        );
        // With the local journal an acknowledgement does not wait for the database: the
        // pool is sized by the rate guess alone.
        let local = Scenario {
            local_journal: true,
            ..busy.clone()
        };
        assert_eq!(local.pool_per_sender(), busy.pool_per_sender());
        let single = Scenario {
            local_journal: true,
            ..sc
        };
        // Only the 1 ms floor is left: 1,000/s for 60 s, plus 10 %.
        assert_eq!(single.pool_per_sender(), 66_016);
    }
}
