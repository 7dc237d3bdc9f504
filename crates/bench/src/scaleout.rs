//! The scale-out scenario: one `sluice serve` process, then three on one database behind a
//! load balancer, under the same inbound and delivery load; then one of the three killed
//! with SIGKILL mid-run.
//!
//! Each run, in order:
//! 1. **Deploy** ([`crate::fleet`]): a fresh database, the latency proxy, the balancer, the
//!    processes (each binds its own port; all serve the balancer's address as their domain).
//! 2. **Warm up** as the inbound scenarios do (every user posts once), and publish one
//!    Announce to every delivery peer, so that each peer instance has a delivery state and
//!    a process holding its lease before the timed phase.
//! 3. **Timed phase**: the simulated instances send their signed workload through the
//!    balancer (the inbound scenarios' senders: a failed request is retried after a pause,
//!    and the retry opens a new connection, which the balancer gives to a live process),
//!    while the publisher publishes Announces at a steady rate to every peer.
//!    Throughput is measured over the first `steady` seconds, with the CPU time of every
//!    process, PostgreSQL and the load generator from `/proc`.
//! 4. **Kill** (the three-process run): at the end of the steady window, the process holding
//!    the most delivery leases gets SIGKILL. Its connections through the balancer fail and
//!    their senders retry elsewhere; its delivery leases run out and the survivors claim
//!    them; its claimed journal rows wait out the pipeline lease. Load continues for
//!    `failover` more seconds.
//! 5. **Drain and count**: the journal empties, every published activity reaches every
//!    peer; then every activity sent is looked up in the journal and the tables compared
//!    with what the acknowledged ones imply, and every peer's arrivals are counted by
//!    activity id (missing, duplicates, unverified).

use crate::observe::{self, Tables};
use crate::presign::{self, Inboxes};
use crate::procstat;
use crate::publisher::{self, Tally};
use crate::scenario::{self, Bench, Scenario};
use crate::send::{Sent, Stop};
use crate::stack::Deployed;
use crate::workload::Expected;
use crate::{Result, fleet};
use diesel::QueryableByName;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use futures::FutureExt;
use serde::Serialize;
use sluice_testkit::TestPeer;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// sluice's defaults for the settings the report quotes.
const DEFAULT_DELIVERY_LEASE_S: f64 = 30.0;
const DEFAULT_PIPELINE_LEASE_S: f64 = 120.0;
const DEFAULT_DELIVERY_WINDOW: usize = 8;
const DEFAULT_DELIVERY_WINDOW_MAX: usize = 64;
/// Arrivals at a peer this soon after the kill may still be the killed process's own
/// requests being read; the first delivery by a survivor is looked for after it.
const KILL_GUARD: Duration = Duration::from_millis(200);

/// What to run.
#[derive(Debug, Clone)]
pub struct ScaleoutScenario {
    /// The inbound load (name, database delay, senders, mode, users, rate guess, settings);
    /// its `duration` is the whole timed phase (steady plus failover).
    pub inbound: Scenario,
    /// The measured window from the start of the timed phase.
    pub steady: Duration,
    /// `sluice serve` processes.
    pub processes: usize,
    /// Kill one process at the end of the steady window and go on this long (`None`: no kill).
    pub failover: Option<Duration>,
    /// Delivery peers (simulated instances receiving what is published).
    pub peers: usize,
    /// Activities published per second (each to every peer).
    pub publish_rate: f64,
    /// How long each peer takes to answer a delivery.
    pub peer_delay: Duration,
}

/// The failover of a run with a kill.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Failover {
    /// The process killed.
    pub killed_pid: i32,
    /// When, seconds after the start of the timed phase.
    pub at_s: f64,
    /// Delivery peers whose lease the killed process held.
    pub instances: usize,
    /// Per such instance, seconds from the kill to its first delivery by a survivor
    /// (`None`: none came).
    pub resumed_s: Vec<Option<f64>>,
    /// `delivery_lease_secs`.
    pub delivery_lease_s: f64,
    /// `pipeline_lease_seconds` (the killed process's claimed journal rows wait this out).
    pub pipeline_lease_s: f64,
    /// Acknowledgements per second from the kill to the end of the timed phase.
    pub acked_per_s_after: f64,
    /// Activities whose request was retried (a connection to the killed process failed).
    pub retried: usize,
}

/// What one run measured (the JSON report's `scaleout[]`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScaleoutRun {
    /// Run name.
    pub name: String,
    /// Processes behind the balancer.
    pub processes: usize,
    /// One-way delay between the processes and PostgreSQL.
    pub one_way_db_delay_ms: u64,
    /// Sending instances.
    pub senders: usize,
    /// How each sends.
    pub mode: String,
    /// The measured (steady) window, s.
    pub window_s: f64,
    /// A sender ran out of signed activities.
    pub pool_exhausted: bool,
    /// Activities sent in the timed phase.
    pub sent: usize,
    /// Of those, acknowledged.
    pub acked: usize,
    /// Of those, applied.
    pub processed: usize,
    /// Sent (timed phase or warm-up), neither applied nor refused with an rc.
    pub lost: usize,
    /// Refused with an rc, by rc.
    pub refused: BTreeMap<String, usize>,
    /// The tables as read.
    pub tables: Tables,
    /// The tables the applied activities imply.
    pub expected: Expected,
    /// Acknowledged per second over the steady window, all senders.
    pub acked_per_s: f64,
    /// Applied per second over the steady window.
    pub processed_per_s: f64,
    /// Acknowledgement latency, ms (the whole timed phase).
    pub ack_p50_ms: f64,
    /// 99th percentile.
    pub ack_p99_ms: f64,
    /// Oldest pending journal row during the timed phase, s.
    pub journal_lag_max_s: f64,
    /// Time for the journal to drain after the timed phase, s.
    pub drain_s: f64,
    /// CPU seconds of each process over the steady window, in start order.
    pub process_cpu_s: Vec<f64>,
    /// PostgreSQL's CPU seconds over the steady window.
    pub postgres_cpu_s: Option<f64>,
    /// The load generator's (this process's) CPU seconds over the steady window.
    pub bench_cpu_s: f64,
    /// Connections the balancer gave each process.
    pub balanced: Vec<u64>,
    /// Activities published (each to every peer).
    pub published: usize,
    /// The delivery window: the most a crash may re-send per instance.
    pub delivery_window: usize,
    /// What each peer received.
    pub peers: Vec<Tally>,
    /// Time for every peer to have every activity after the timed phase, s.
    pub delivery_wait_s: f64,
    /// The kill, when there was one.
    pub failover: Option<Failover>,
}

/// The last value of `key` among `SLUICE_*` settings.
fn setting<'a>(env: impl Iterator<Item = &'a (String, String)>, key: &str) -> Option<&'a str> {
    env.filter(|(k, _)| k == key)
        .last()
        .map(|(_, v)| v.as_str())
}

impl Bench {
    /// Runs one scale-out run.
    pub async fn scaleout(&self, sc: &ScaleoutScenario) -> Result<ScaleoutRun> {
        let db_name = format!(
            "bench_{}",
            sc.inbound
                .name
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let delay = Duration::from_millis(sc.inbound.one_way_ms);
        let mut d = fleet::start(
            &self.stack,
            &self.server,
            &db_name,
            delay,
            &sc.inbound.env,
            sc.processes,
        )
        .await?;
        let result = self.scaleout_measure(sc, &mut d).await;
        if result.is_err() {
            eprintln!("sluice logs:\n{}", d.log());
        }
        d.stop();
        result
    }

    async fn scaleout_measure(
        &self,
        sc: &ScaleoutScenario,
        d: &mut Deployed,
    ) -> Result<ScaleoutRun> {
        let inbound = &sc.inbound;
        let env = || self.stack.sluice_env.iter().chain(&inbound.env);
        let lease_s = setting(env(), "SLUICE_DELIVERY_LEASE_SECS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_DELIVERY_LEASE_S);
        let pipeline_lease_s = setting(env(), "SLUICE_PIPELINE_LEASE_SECONDS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_PIPELINE_LEASE_S);
        // The crash bound on re-sends: the fixed window when one is asked for (alone it
        // means fixed, as sluice reads it), else the adaptive window's maximum.
        let fixed = setting(env(), "SLUICE_DELIVERY_CONCURRENCY")
            .map(|m| m == "fixed")
            .unwrap_or_else(|| setting(env(), "SLUICE_DELIVERY_WINDOW").is_some());
        let window = if fixed {
            setting(env(), "SLUICE_DELIVERY_WINDOW")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_DELIVERY_WINDOW)
        } else {
            setting(env(), "SLUICE_DELIVERY_WINDOW_MAX")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_DELIVERY_WINDOW_MAX)
        };
        let instances = self.instances.get(..inbound.senders).ok_or_else(|| {
            crate::error::setup(format!(
                "{} needs {} instances",
                inbound.name, inbound.senders
            ))
        })?;
        let inboxes = Inboxes::of(&d.base);
        let prefixes: Vec<String> = instances
            .iter()
            .map(|i| i.peer.base().to_string())
            .collect();
        let mut generators = scenario::generators(instances, d, inbound.mode, &inbound.name);

        // 2. Warm-up: inbound, then one delivery to every peer.
        let warm_runs = self
            .warm_up(instances, &mut generators, &inboxes, d)
            .await?;
        let peers = publisher::peers(sc.peers, sc.peer_delay).await;
        let target = publisher::Target {
            base: d.base.clone(),
            token: d.publish_token.clone().unwrap_or_default(),
            community: d.local_community.clone().unwrap_or_default(),
            inboxes: peers.iter().map(TestPeer::shared_inbox).collect(),
        };
        let mut published = vec![publisher::publish(&self.client, &target, "warm", 0).await?];
        publisher::wait_delivered(&peers, &published, Duration::from_secs(60)).await;

        // 3. Sign.
        let (pools, _) = presign::pools(
            instances,
            &mut generators,
            &inboxes,
            inbound.pool_per_sender(),
        )
        .await?;

        // 4. Timed phase.
        let pids = d.pids();
        let pg_pid = self.server.postmaster_pid();
        let cpu0: Vec<f64> = pids.iter().map(|p| procstat::cpu_seconds(*p)).collect();
        let pg0 = pg_pid.map(procstat::tree_cpu_seconds);
        let own0 = procstat::own_cpu_seconds();
        let stop = Arc::new(Stop::default());
        let publishing = Arc::new(Stop::default());
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = tokio::spawn(scenario::sample(d.db.clone(), sampling.clone()));
        eprintln!(
            "  timed phase: {} s, {} process(es) {:?}",
            inbound.duration.as_secs(),
            pids.len(),
            pids
        );
        let t0 = Instant::now();
        let t0_wall = SystemTime::now();
        let publisher = tokio::spawn(publisher::run(
            self.client.clone(),
            target,
            "timed".into(),
            sc.publish_rate,
            publishing.clone(),
        ));
        let senders = {
            let (client, stop) = (self.client.clone(), stop.clone());
            let mode = inbound.mode;
            tokio::spawn(
                async move { scenario::send_all(&client, pools, mode, Some(stop), None).await },
            )
        };
        sleep_unless(&stop, sc.steady).await;
        let t_cut = Instant::now();
        let process_cpu_s: Vec<f64> = pids
            .iter()
            .zip(&cpu0)
            .map(|(p, c0)| procstat::cpu_seconds(*p) - c0)
            .collect();
        let postgres_cpu_s = pg_pid
            .zip(pg0)
            .map(|(p, c0)| procstat::tree_cpu_seconds(p) - c0);
        let bench_cpu_s = procstat::own_cpu_seconds() - own0;

        // 5. Kill.
        let mut kill = None;
        if let Some(failover) = sc.failover {
            // The peers' leases only: the sending instances have delivery states too (the
            // Accepts of their follows), but nothing counts what they receive.
            let owners: Vec<(String, Option<i32>)> = lease_owners(&d.db)
                .await?
                .into_iter()
                .filter(|(domain, _)| peers.iter().any(|p| p.domain() == domain))
                .collect();
            let victim = busiest(&owners, &pids).unwrap_or(pids[pids.len() - 1]);
            let held: Vec<String> = owners
                .iter()
                .filter(|(_, pid)| *pid == Some(victim))
                .map(|(domain, _)| domain.clone())
                .collect();
            d.kill9(victim);
            let at = Instant::now();
            eprintln!(
                "  kill -9 {victim} at {:.1} s; it held the leases of {} instance(s)",
                (at - t0).as_secs_f64(),
                held.len()
            );
            kill = Some((victim, at, held));
            sleep_unless(&stop, failover).await;
        }
        stop.raise();
        publishing.raise();
        let runs = senders.await.unwrap_or_default();
        published.extend(publisher.await.map_err(crate::error::setup)??);
        let t_stop = stop.at().unwrap_or_else(Instant::now);
        sampling.store(false, Ordering::Relaxed);
        let (lag_max, _) = sampler.await.unwrap_or((0.0, 0));

        // 6. Drain.
        let drain_timeout = Duration::from_secs_f64(pipeline_lease_s + 120.0);
        let drain_s = scenario::drain(&self.client, &d.base, &d.db, drain_timeout).await?;
        let delivery_timeout = Duration::from_secs_f64(lease_s + 120.0);
        let delivery_wait_s = publisher::wait_delivered(&peers, &published, delivery_timeout).await;

        // 7. Count.
        let journal = observe::journal(&d.db, &prefixes).await?;
        let tables = observe::tables(&d.db, &prefixes).await?;
        let settled = scenario::settle(&warm_runs, &runs, &journal);
        let timed: Vec<&Sent> = runs.iter().flat_map(|r| &r.sent).collect();
        let steady_end = t_cut.min(t_stop);
        let window_s = (steady_end - t0).as_secs_f64().max(1e-6);
        let acks_between = |from: Instant, to: Instant| {
            timed
                .iter()
                .filter(|s| s.acked() && s.finished >= from && s.finished <= to)
                .count()
        };
        let steady_end_wall = scenario::unix(t0_wall) + window_s;
        let processed_in_window = journal
            .values()
            .filter(|r| {
                r.state == "done"
                    && r.processed
                        .is_some_and(|p| p >= scenario::unix(t0_wall) && p <= steady_end_wall)
            })
            .count();
        let mut acks: Vec<f64> = timed
            .iter()
            .filter(|s| s.acked())
            .map(|s| s.latency() * 1000.0)
            .collect();
        let failover = kill.map(|(victim, at, held)| {
            let by_domain: HashMap<&str, &TestPeer> =
                peers.iter().map(|p| (p.domain(), p)).collect();
            let after = (t_stop.max(at) - at).as_secs_f64().max(1e-6);
            Failover {
                killed_pid: victim,
                at_s: (at - t0).as_secs_f64(),
                instances: held.len(),
                resumed_s: held
                    .iter()
                    .map(|domain| {
                        by_domain
                            .get(domain.as_str())
                            .and_then(|p| publisher::first_arrival_after(p, at + KILL_GUARD))
                            .map(|t| (t - at).as_secs_f64())
                    })
                    .collect(),
                delivery_lease_s: lease_s,
                pipeline_lease_s,
                acked_per_s_after: acks_between(at, t_stop) as f64 / after,
                retried: timed.iter().filter(|s| s.attempts > 1).count(),
            }
        });
        Ok(ScaleoutRun {
            name: inbound.name.clone(),
            processes: pids.len(),
            one_way_db_delay_ms: inbound.one_way_ms,
            senders: inbound.senders,
            mode: inbound.mode.label(),
            window_s,
            pool_exhausted: runs.iter().any(|r| r.exhausted),
            sent: timed.len(),
            acked: timed.iter().filter(|s| s.acked()).count(),
            processed: timed
                .iter()
                .filter(|s| journal.get(&s.id).is_some_and(|r| r.state == "done"))
                .count(),
            lost: settled.lost,
            refused: settled.refused,
            tables,
            expected: settled.expected,
            acked_per_s: acks_between(t0, steady_end) as f64 / window_s,
            processed_per_s: processed_in_window as f64 / window_s,
            ack_p50_ms: scenario::quantile(&mut acks, 0.50),
            ack_p99_ms: scenario::quantile(&mut acks, 0.99),
            journal_lag_max_s: lag_max,
            drain_s,
            process_cpu_s,
            postgres_cpu_s,
            bench_cpu_s,
            balanced: d.balanced(),
            published: published.len(),
            delivery_window: window,
            peers: peers
                .iter()
                .map(|p| publisher::tally(p, &published))
                .collect(),
            delivery_wait_s,
            failover,
        })
    }
}

/// Sleeps `d`, or less if `stop` is raised first (a sender ran out of signed activities).
async fn sleep_unless(stop: &Stop, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.is_raised() {
        tokio::time::sleep(Duration::from_millis(50).min(end - Instant::now())).await;
    }
}

#[derive(QueryableByName)]
struct Owner {
    #[diesel(sql_type = Text)]
    domain: String,
    #[diesel(sql_type = Nullable<Integer>)]
    pid: Option<i32>,
}

/// Each delivery instance's domain and the pid of the process holding its lease.
async fn lease_owners(db: &sluice_db::Db) -> Result<Vec<(String, Option<i32>)>> {
    let rows: Vec<Owner> = db
        .run("bench_lease_owners", |c| {
            sluice_db::sql(
                "/* sluice-bench */ SELECT i.domain, n.pid FROM delivery_state d \
                 JOIN instance i ON i.id = d.instance_id \
                 LEFT JOIN node n ON n.id = d.lease_owner AND d.lease_until > now()",
            )
            .load(c)
            .boxed()
        })
        .await?;
    Ok(rows.into_iter().map(|r| (r.domain, r.pid)).collect())
}

/// Of `candidates`, the process holding the most leases (at least one).
fn busiest(owners: &[(String, Option<i32>)], candidates: &[i32]) -> Option<i32> {
    candidates
        .iter()
        .map(|c| (owners.iter().filter(|(_, p)| *p == Some(*c)).count(), *c))
        .filter(|(n, _)| *n > 0)
        .max()
        .map(|(_, c)| c)
}
