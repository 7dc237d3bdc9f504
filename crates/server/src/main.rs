//! `sluice`: parse the command line, load the configuration, run the command, and report
//! any failure as one line on stderr with a non-zero exit code.

use clap::Parser;
use sluice_server::cli::{Cli, Command};
use sluice_server::config::Config;
use sluice_server::{commands, doctor, serve, telemetry};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration: {}", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&cfg);
    // reqwest is built without a default TLS provider (see docs/stack-notes): pick ring.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Serve => serve::run(cfg.clone()).await,
            Command::Migrate => commands::migrate(&cfg).await,
            Command::Community { action } => commands::community(&cfg, action).await,
            Command::User { action } => commands::user(&cfg, action).await,
            Command::Federation { action } => commands::federation::run(&cfg, action).await,
            Command::Instance { action } => commands::instance::run(&cfg, action).await,
            Command::Doctor(args) => doctor::run(&cfg, args).await,
            Command::Journal { action } => commands::journal(&cfg, action).await,
            Command::Fediseer { action } => commands::fediseer::run(&cfg, action).await,
            Command::Webhook { action } => commands::webhook::run(&cfg, action).await,
            Command::Policy { action } => commands::policy::run(&cfg, action).await,
            Command::Review { action } => commands::policy::review(&cfg, action).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Errors are reported on one line (scripts and admins grep for `error:`); multi-line
/// details such as a PostgreSQL log tail are joined.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}
