//! `sluice-bench`: runs the scenario matrix and prints the report.
//!
//! ```sh
//! cargo build --release -p sluice-server -p sluice-bench
//! target/release/sluice-bench            # the full matrix (about 10 minutes)
//! target/release/sluice-bench --quick    # a small version with every check (under a minute)
//! target/release/sluice-bench --scaleout # one process, then three with a kill -9
//! ```

use clap::Parser;
use sluice_bench::delivery_peers::PeerShape;
use sluice_bench::machine::{self, Machine};
use sluice_bench::queue::{self, QueueScenario};
use sluice_bench::report::{self, Report};
use sluice_bench::scaleout::ScaleoutScenario;
use sluice_bench::scaleout_report;
use sluice_bench::scenario::{Bench, Scenario};
use sluice_bench::send::Mode;
use sluice_bench::stack::{Server, StackOptions};
use sluice_bench::{BenchError, peers};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The lemmy.world → small-instance scenario, measured end to end (see docs/benchmarks.md).
#[derive(Debug, Parser)]
#[command(name = "sluice-bench", version)]
struct Args {
    /// A small version of everything, for CI: a few senders for a few seconds; the
    /// deterministic checks are the point, and speed targets are not judged.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of markdown.
    #[arg(long)]
    json: bool,
    /// One-way delays between sluice and PostgreSQL to run, ms.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0u64, 25])]
    db_delay_ms: Vec<u64>,
    /// Sender counts to run (each sender is one simulated instance).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 64])]
    senders: Vec<usize>,
    /// How senders send: `serial` or `windowed:N`.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["serial".to_string()])]
    mode: Vec<String>,
    /// Timed phase of scenarios with several senders, seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Timed phase of one-sender scenarios, seconds.
    #[arg(long, default_value_t = 20)]
    duration_single: u64,
    /// Users per simulated instance.
    #[arg(long, default_value_t = 8)]
    persons: usize,
    /// Upper guess of a scenario's acknowledgements per second (sizes the signed pools).
    #[arg(long, default_value_t = 2500.0)]
    rate_cap: f64,
    /// Also run the largest sender count at 0 ms paced to this many activities/s in all
    /// (0: don't).
    #[arg(long, default_value_t = 2000.0)]
    paced_rate: f64,
    /// Skip the delivery (send queue) scenarios.
    #[arg(long)]
    no_queue: bool,
    /// Run only the delivery (send queue) scenarios.
    #[arg(long, conflicts_with = "no_queue")]
    queue_only: bool,
    /// The sluice binary (default: `sluice` next to this binary, i.e. target/release).
    #[arg(long)]
    sluice_bin: Option<PathBuf>,
    /// An existing PostgreSQL server (default: a private cluster of our own).
    #[arg(long)]
    database_url: Option<String>,
    /// A running sluice on `--database-url`'s database (default: start one per scenario).
    #[arg(long, requires = "database_url")]
    sluice: Option<String>,
    /// The running sluice's pid, for CPU and memory.
    #[arg(long, requires = "sluice")]
    sluice_pid: Option<i32>,
    /// Extra setting for the sluice we start, `KEY=VALUE` (e.g. `SLUICE_PIPELINE_WORKERS=2`).
    #[arg(long = "sluice-env", value_parser = parse_kv)]
    sluice_env: Vec<(String, String)>,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only the scale-out scenario: one process, then three behind a load balancer
    /// with one killed by SIGKILL mid-run (several minutes; see docs/benchmarks.md).
    #[arg(long, conflicts_with_all = ["queue_only", "sluice"])]
    scaleout: bool,
    /// Scale-out: one-way delay between the processes and PostgreSQL, ms.
    #[arg(long, default_value_t = 25)]
    scaleout_delay_ms: u64,
    /// Scale-out: how the instances send (`serial`, `windowed:N`): serial senders 25 ms
    /// from the database cap themselves, not the processes.
    #[arg(long, default_value = "windowed:8")]
    scaleout_mode: String,
    /// Scale-out: the measured window, seconds (the kill comes at its end).
    #[arg(long, default_value_t = 30)]
    scaleout_steady: u64,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

fn sluice_bin(given: Option<PathBuf>) -> Result<PathBuf, BenchError> {
    let bin = match given {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("sluice"))
            .unwrap_or_else(|| PathBuf::from("sluice")),
    };
    if !bin.exists() {
        return Err(BenchError::Setup(format!(
            "no sluice binary at {}: build it (`cargo build --release -p sluice-server`) or pass --sluice-bin",
            bin.display()
        )));
    }
    Ok(bin)
}

fn scenarios(a: &Args) -> Result<Vec<Scenario>, BenchError> {
    let modes = a
        .mode
        .iter()
        .map(|m| Mode::parse(m).ok_or_else(|| BenchError::Setup(format!("--mode {m:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let local_journal = a
        .sluice_env
        .iter()
        .rev()
        .find(|(k, _)| k == "SLUICE_JOURNAL")
        .is_some_and(|(_, v)| v == "local");
    if a.quick {
        let quick = |one_way_ms, senders, mode: Mode| Scenario {
            name: format!("quick-{one_way_ms}ms-{senders}x{}", mode.label()),
            one_way_ms,
            senders,
            mode,
            duration: Duration::from_secs(4),
            persons: 3,
            rate_cap: 600.0,
            env: vec![],
            paced: None,
            local_journal,
        };
        return Ok(vec![
            quick(0, 1, Mode::Serial),
            quick(0, 8, Mode::Serial),
            quick(5, 8, Mode::Windowed(4)),
        ]);
    }
    let mut out = Vec::new();
    for &one_way_ms in &a.db_delay_ms {
        for &senders in &a.senders {
            for &mode in &modes {
                let secs = if senders == 1 {
                    a.duration_single
                } else {
                    a.duration
                };
                out.push(Scenario {
                    name: format!("{one_way_ms}ms-{senders}x{}", mode.label()),
                    one_way_ms,
                    senders,
                    mode,
                    duration: Duration::from_secs(secs),
                    persons: a.persons,
                    rate_cap: a.rate_cap,
                    env: vec![],
                    paced: None,
                    local_journal,
                });
            }
        }
    }
    // The 2,000/s target with the journal keeping up: 64 instances offering what
    // their users produce, 2,000 activities/s in all, rather than as fast as answers come.
    if let Some(rate) = Some(a.paced_rate).filter(|r| *r > 0.0)
        && a.db_delay_ms.contains(&0)
        && let Some(&senders) = a.senders.iter().filter(|s| **s > 1).max()
    {
        out.push(Scenario {
            name: format!("0ms-{senders}xserial-paced{rate:.0}"),
            one_way_ms: 0,
            senders,
            mode: Mode::Serial,
            duration: Duration::from_secs(a.duration),
            persons: a.persons,
            rate_cap: rate,
            env: vec![],
            paced: Some(rate),
            local_journal,
        });
    }
    Ok(out)
}

/// Peers answering in 200 ms: window 1 (Lemmy 0.19.3's serial queue) and a fixed 8 against
/// a peer that takes 64 at once; then sluice's default, the adaptive window, against that
/// peer, a peer with 4 workers (its answer time doubles at 8 concurrent requests) and a
/// peer that answers 429 for a while. Activities are about 200 objects in turn: those about
/// one object are never in flight together, so with fewer objects than the window the
/// window could not fill.
fn queue_scenarios(quick: bool) -> Vec<QueueScenario> {
    let n = |full: usize, small: usize| if quick { small } else { full };
    let sc = |name: &str, window, activities, shape| QueueScenario {
        name: name.into(),
        peer_delay: Duration::from_millis(200),
        window,
        activities,
        objects: 200,
        shape,
    };
    let throttled = sc(
        "delivery-200ms-adaptive-429",
        None,
        n(400, 40),
        PeerShape::Throttling {
            after: n(150, 20),
            refusals: n(8, 3),
            retry_after_s: n(2, 1) as u64,
        },
    );
    let window1 = sc(
        "delivery-200ms-window1",
        Some(1),
        n(50, 10),
        PeerShape::Capacity(64),
    );
    // CI's quick run keeps the two that carry the most checks (each scenario starts a sluice).
    if quick {
        return vec![window1, throttled];
    }
    vec![
        window1,
        sc(
            "delivery-200ms-fixed8",
            Some(8),
            300,
            PeerShape::Capacity(64),
        ),
        sc(
            "delivery-200ms-adaptive-takes64",
            None,
            3000,
            PeerShape::Capacity(64),
        ),
        sc(
            "delivery-200ms-adaptive-4workers",
            None,
            500,
            PeerShape::Capacity(4),
        ),
        throttled,
    ]
}

/// One process, then three with a kill at the end of the steady window. The delivery
/// lease stays sluice's default (30 s) and the failover phase outlasts it; the pipeline
/// lease is shortened to the same 30 s so that the killed process's claimed journal rows
/// are not waited for two minutes. `--quick` shrinks everything, leases included.
fn scaleout_scenarios(a: &Args) -> Result<Vec<ScaleoutScenario>, BenchError> {
    let mode = Mode::parse(&a.scaleout_mode)
        .ok_or_else(|| BenchError::Setup(format!("--scaleout-mode {:?}", a.scaleout_mode)))?;
    let (senders, persons, mode, steady, lease, failover_s, rate_cap) = if a.quick {
        (4, 3, Mode::Serial, 4, 2, 8, 600.0)
    } else {
        let senders = a.senders.iter().copied().max().unwrap_or(64);
        let steady = a.scaleout_steady;
        (senders, a.persons, mode, steady, 30, 45, a.rate_cap)
    };
    let run = |processes: usize, kill: bool| {
        let failover = kill.then(|| Duration::from_secs(failover_s));
        let total = Duration::from_secs(steady) + failover.unwrap_or_default();
        let mut env = vec![(
            "SLUICE_PIPELINE_LEASE_SECONDS".to_string(),
            lease.to_string(),
        )];
        if a.quick {
            env.push(("SLUICE_DELIVERY_LEASE_SECS".into(), lease.to_string()));
        }
        ScaleoutScenario {
            inbound: Scenario {
                name: format!(
                    "{}scaleout-{processes}x-{}ms-{senders}x{}{}",
                    if a.quick { "quick-" } else { "" },
                    a.scaleout_delay_ms,
                    mode.label(),
                    if kill { "-kill9" } else { "" }
                ),
                one_way_ms: a.scaleout_delay_ms,
                senders,
                mode,
                duration: total,
                persons,
                rate_cap,
                env,
                paced: None,
                local_journal: false,
            },
            steady: Duration::from_secs(steady),
            processes,
            failover,
            peers: if a.quick { 3 } else { 6 },
            publish_rate: 10.0,
            peer_delay: Duration::from_millis(100),
        }
    };
    Ok(vec![run(1, false), run(3, true)])
}

async fn run(a: Args) -> Result<Report, BenchError> {
    let mut machine = Machine::probe();
    let stack = StackOptions {
        sluice_bin: match &a.sluice {
            Some(_) => PathBuf::new(),
            None => sluice_bin(a.sluice_bin.clone())?,
        },
        database_url: a.database_url.clone(),
        sluice_url: a.sluice.clone(),
        sluice_pid: a.sluice_pid,
        sluice_env: a.sluice_env.clone(),
    };
    let list = if a.queue_only || a.scaleout {
        Vec::new()
    } else {
        scenarios(&a)?
    };
    let scaleout = if a.scaleout {
        scaleout_scenarios(&a)?
    } else {
        Vec::new()
    };
    let server = Server::start(a.database_url.as_deref()).await?;
    machine.postgres = Some(server.version.clone());
    machine.postgres_fsync = server.fsync;
    let inbound = list.iter().chain(scaleout.iter().map(|s| &s.inbound));
    let most = inbound.clone().map(|s| s.senders).max().unwrap_or(1);
    let persons = inbound.map(|s| s.persons).max().unwrap_or(1);
    eprintln!("starting {most} simulated instances with {persons} users each");
    let instances = peers::start(most, persons).await?;
    let bench = Bench {
        stack,
        server,
        instances,
        client: sluice_bench::send::client(),
    };
    let mut report = Report {
        machine,
        scenarios: Vec::new(),
        queue: Vec::new(),
        scaleout: Vec::new(),
        checks: Vec::new(),
        targets: Vec::new(),
    };
    for sc in &list {
        eprintln!(
            "scenario {}: {} signed activities per sender, {:?} timed",
            sc.name,
            sc.pool_per_sender(),
            sc.duration
        );
        let o = bench.run(sc).await?;
        eprintln!(
            "  {:.0} acked/s, {:.0} processed/s, {} lost, ack p50 {:.1} ms",
            o.acked_per_s, o.processed_per_s, o.lost, o.ack_p50_ms
        );
        report.checks.extend(report::checks(&o));
        if !a.quick {
            report.targets.extend(report::targets(&o));
        }
        report.scenarios.push(o);
    }
    for sc in &scaleout {
        eprintln!(
            "scale-out run {}: {} signed activities per sender",
            sc.inbound.name,
            sc.inbound.pool_per_sender()
        );
        let r = bench.scaleout(sc).await?;
        eprintln!(
            "  {:.0} acked/s, {:.0} processed/s, {} lost, {} published",
            r.acked_per_s, r.processed_per_s, r.lost, r.published
        );
        report.checks.extend(scaleout_report::checks(&r));
        report.scaleout.push(r);
    }
    if !a.quick {
        report
            .targets
            .extend(scaleout_report::targets(&report.scaleout));
    }
    if !a.no_queue && a.sluice.is_none() && !a.scaleout {
        for sc in queue_scenarios(a.quick) {
            eprintln!("delivery scenario {}", sc.name);
            let q = queue::run(&bench.stack, &bench.server, &bench.client, &sc).await?;
            eprintln!(
                "  {:.1} delivered/s, order {}, window up to {:.0}",
                q.delivered_per_s,
                if q.order_kept { "kept" } else { "BROKEN" },
                q.window_max_seen
            );
            report.checks.extend(report::queue_checks(&q));
            if !a.quick {
                report.targets.extend(report::queue_targets(&q));
            }
            report.queue.push(q);
        }
    }
    report.machine.load_at_end = machine::load();
    Ok(report)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_BENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let json = args.json;
    let out = args.out.clone();
    match run(args).await {
        Ok(report) => {
            let md = report::markdown(&report);
            if let Some(path) = out
                && let Err(e) = std::fs::write(&path, &md)
            {
                eprintln!("sluice-bench: writing {}: {e}", path.display());
            }
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(j) => println!("{j}"),
                    Err(e) => eprintln!("sluice-bench: {e}"),
                }
            } else {
                print!("{md}");
            }
            let failed = report.checks.iter().filter(|c| !c.ok).count();
            if failed > 0 {
                eprintln!("sluice-bench: {failed} check(s) failed");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("sluice-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
