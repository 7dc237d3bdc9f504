//! Logging setup.

use crate::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `SLUICE_LOG` (or `RUST_LOG`), default `info`.
pub fn init_logging(cfg: &Config) {
    let filter = std::env::var("SLUICE_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info,tokio_postgres=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    let _ = match cfg.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
