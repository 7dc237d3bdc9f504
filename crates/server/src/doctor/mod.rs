//! `sluice doctor`: checks the setup and measures where time goes, then says what that
//! means in plain words ("your database is probably in another data centre ...").
//!
//! The founding incident took two days to diagnose: every activity paid ~20 round-trips to
//! a database 25 ms away, and nothing said so. Doctor measures that in seconds. Thresholds
//! are in [`advice`] and docs/doctor.md. A failed check exits non-zero; warnings alone
//! exit 0.

pub mod advice;
pub mod console;
mod database;
mod fediseer;
mod peer;
mod report;
mod webhooks;

use crate::cli::DoctorArgs;
use crate::config::Config;
use crate::database::redact;
use report::{Report, Status};

/// Runs every check and prints the report (`--json`: for scripts) on stdout. Returns an
/// error naming the failed checks, which `main` prints as one line, when any failed.
pub async fn run(cfg: &Config, args: &DoctorArgs) -> anyhow::Result<()> {
    let mut report = Report {
        version: env!("CARGO_PKG_VERSION"),
        database: match &cfg.database_url {
            Some(u) => redact(u),
            None => format!("embedded, in {}", cfg.data_dir.join("postgres").display()),
        },
        ..Report::default()
    };
    configuration(cfg, &mut report);
    let cluster = database::check(cfg, args.samples as usize, &mut report).await;
    if let Some(peer) = &args.peer {
        peer::check(cfg, peer, &mut report).await;
    }
    if let Some(cluster) = cluster {
        // Stops the embedded cluster if doctor started it (it is left running otherwise).
        let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
    }
    report.status = Some(report.worst());
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.human());
    }
    match report.failures() {
        Some(line) => anyhow::bail!("doctor: {line}"),
        None => Ok(()),
    }
}

/// The configuration already loaded and validated (an invalid one never gets here: `main`
/// reports it as one line and exits 2); say what it is and flag what is unsafe.
fn configuration(cfg: &Config, report: &mut Report) {
    let summary = format!(
        "domain {}, listening on {}, pool_size {}",
        cfg.domain, cfg.bind, cfg.pool_size
    );
    let domain = cfg.urls().domain().to_string();
    if cfg.dev_mode {
        report.push(
            "configuration",
            Status::Warn,
            format!(
                "{summary}; dev_mode is on: plain http ids and private peers are allowed. \
                 Never in production."
            ),
        );
    } else if domain.starts_with("localhost") || domain.starts_with("127.") {
        report.push(
            "configuration",
            Status::Warn,
            format!("{summary}; the domain is not a public host name: peers cannot reach it."),
        );
    } else {
        report.push("configuration", Status::Ok, format!("{summary}."));
    }
}
