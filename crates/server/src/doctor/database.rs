//! The database checks: reachability and version, durability settings, migrations, and the
//! timings that say whether the database is close: round-trip, pool checkout, commit.
//!
//! Every timing runs through sluice_db on a connection held for the purpose, so the wire
//! counter tells how many round-trips each sample really cost (a sample that needed two is
//! halved rather than reported as a slow round-trip).

use super::advice;
use super::report::{CommitMillis, Millis, Report, Status, round};
use crate::config::Config;
use crate::database::{Purpose, locate, redact};
use sluice_db::{Conn, Db, PoolOptions, probe};
use sluice_pgcluster::Cluster;
use std::time::{Duration, Instant};

/// Commit probes per run: fewer than pings, each costs two round-trips and a flush.
fn commit_samples(samples: usize) -> usize {
    (samples / 5).max(3)
}

/// Runs the database checks; returns the embedded cluster if one was started or attached,
/// for the caller to release after every check has run.
pub async fn check(cfg: &Config, samples: usize, report: &mut Report) -> Option<Cluster> {
    let (url, cluster) = match locate(cfg, Purpose::Admin).await {
        Ok(found) => found,
        Err(e) => {
            report.push(
                "database",
                Status::Fail,
                format!("the embedded database did not start: {e:#}"),
            );
            return None;
        }
    };
    let target = match &cfg.database_url {
        Some(u) => format!("database_url {}", redact(u)),
        None => "the embedded database".to_string(),
    };
    let opts = PoolOptions {
        max_size: 2,
        checkout_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        op_timeout: Duration::from_secs(10),
    };
    let start = Instant::now();
    let db = match Db::connect(&url, opts).await {
        Ok(db) => db,
        Err(e) => {
            let why = match e {
                sluice_db::DbError::Unavailable(why) => why,
                other => other.to_string(),
            };
            report.push(
                "database",
                Status::Fail,
                format!(
                    "cannot reach {target}: {why} (is PostgreSQL running, and is the URL right?)"
                ),
            );
            return cluster;
        }
    };
    let connect_ms = start.elapsed().as_secs_f64() * 1e3;
    report.db_connect_ms = Some(round(connect_ms));
    // The URL was parsed when the configuration was read; the embedded one has no TLS.
    let policy = sluice_db::tls::split(&url)
        .map(|(_, p)| p)
        .unwrap_or_default();
    if let Err(e) = measure(&db, &policy, connect_ms, samples, report).await {
        report.push(
            "database",
            Status::Fail,
            format!("{target} stopped answering during the checks: {e}"),
        );
    }
    if let Some(m) = report.db_rtt_ms {
        let (s, msg) = advice::journal(&m, cfg.journal);
        report.push("journal", s, msg);
    }
    super::fediseer::check(cfg, &db, report).await;
    super::webhooks::check(cfg, &db, report).await;
    cluster
}

async fn measure(
    db: &Db,
    policy: &sluice_db::tls::Policy,
    connect_ms: f64,
    samples: usize,
    report: &mut Report,
) -> Result<(), sluice_db::DbError> {
    // The dedicated connection for the timings.
    let mut conn = db.get().await?;
    let info = probe::server_info(&mut conn).await?;
    let (s, m) = advice::version(&info, connect_ms);
    report.push("database", s, m);
    let (s, m) = advice::durability(&info);
    report.push("durability", s, m);
    let (s, m) = advice::transport(&info, policy);
    report.push("db_transport", s, m);

    let migrations = sluice_db::migration_state(db).await?;
    let schema_ready = migrations.pending.is_empty();
    if !migrations.unknown.is_empty() {
        report.push(
            "migrations",
            Status::Fail,
            format!(
                "the database has migrations this sluice does not know ({}): a newer sluice \
                 migrated it; run that version",
                migrations.unknown.join(", ")
            ),
        );
    } else if !schema_ready {
        report.push(
            "migrations",
            Status::Warn,
            format!(
                "{} pending ({}): `sluice serve` applies them at start, `sluice migrate` now",
                migrations.pending.len(),
                migrations.pending.join(", ")
            ),
        );
    } else {
        report.push("migrations", Status::Ok, "every migration is applied.");
    }

    let rtt = Millis::of(&per_roundtrip(&mut conn, samples, probe::ping).await?);
    if let Some(m) = &rtt {
        let (s, msg) = advice::db_rtt(m);
        report.push("db_roundtrip", s, msg);
    }
    report.db_rtt_ms = rtt;

    // The timed connection stays checked out; the pool's other one is the idle one.
    let mut checkouts = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        let c = db.get().await?;
        checkouts.push(start.elapsed());
        drop(c);
    }
    if let Some(m) = Millis::of(&checkouts) {
        let (s, msg) = advice::checkout(&m);
        report.push("pool_checkout", s, msg);
        report.pool_checkout_ms = Some(m);
    }

    if !schema_ready {
        report.push(
            "commit",
            Status::Warn,
            "not measured: it writes to the doctor_probe table, which a pending migration creates.",
        );
        return Ok(());
    }
    probe::commit_probe(&mut conn).await?; // warm-up: prepares the statement
    let mut commits = Vec::new();
    for _ in 0..commit_samples(samples) {
        let start = Instant::now();
        probe::commit_probe(&mut conn).await?;
        commits.push(start.elapsed());
    }
    if let (Some(total), Some(rtt)) = (Millis::of(&commits), rtt) {
        let c = CommitMillis {
            total,
            flush_p50: round((total.p50 - 2.0 * rtt.p50).max(0.0)),
        };
        let (s, msg) = advice::commit(&c, &info);
        report.push("commit", s, msg);
        report.commit_ms = Some(c);
    }
    Ok(())
}

/// Times `samples` runs of `op` after one warm-up, each divided by the round-trips it
/// caused on the wire.
async fn per_roundtrip<F>(
    conn: &mut Conn,
    samples: usize,
    op: F,
) -> Result<Vec<Duration>, sluice_db::DbError>
where
    F: AsyncFn(&mut Conn) -> Result<(), sluice_db::DbError>,
{
    op(conn).await?;
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let before = conn.wire_roundtrips();
        let start = Instant::now();
        op(conn).await?;
        let elapsed = start.elapsed();
        let trips = conn.wire_roundtrips().saturating_sub(before).max(1);
        out.push(elapsed / trips as u32);
    }
    Ok(out)
}
