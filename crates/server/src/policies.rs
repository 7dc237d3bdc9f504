//! The policy chain of `serve`: loaded from `policy_file` at start (a file that does not
//! build stops the start: running without the admin's rules is not a safe default), then
//! reloaded when the file changes (its modification time or length, looked at every 2 s)
//! and on SIGHUP. A reload that fails keeps the chain in force, logs why and counts
//! `sluice_policy_reloads_total{result="error"}`.

use crate::config::Config;
use anyhow::Context;
use sluice_policy::{Live, Reloaded};
use sluice_stage::{Handle, Shutdown};
use std::time::Duration;

/// How often the file's modification time is looked at.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The chain `cfg` names (empty without `policy_file`).
pub fn load(cfg: &Config) -> anyhow::Result<Live> {
    let Some(path) = &cfg.policy_file else {
        return Ok(Live::default());
    };
    let live = Live::load(path.clone(), cfg.urls(), Some(extension(cfg)))
        .with_context(|| format!("policy_file {}", path.display()))?;
    tracing::info!(path = %path.display(), policies = live.current().links().len(), "policy chain loaded");
    Ok(live)
}

/// What builds the chain's `plugin` links.
pub fn extension(cfg: &Config) -> std::sync::Arc<dyn sluice_policy::Extension> {
    std::sync::Arc::new(sluice_plugins::Plugins::new(cfg.plugins_dir()))
}

/// Reloads `live` on change and on SIGHUP until `shutdown` (nothing to do without a file).
pub fn start_reloader(live: Live, shutdown: Shutdown) -> Option<Handle> {
    live.path()?;
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).ok();
        loop {
            let forced = tokio::select! {
                _ = stop.triggered() => return,
                _ = tokio::time::sleep(WATCH_EVERY) => false,
                Some(_) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            };
            report(&live, live.reload(forced));
        }
    });
    Some(Handle::new("policy reload", shutdown, vec![task]))
}

fn report(live: &Live, r: Reloaded) {
    let m = sluice_metrics::global();
    let path = live
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match r {
        Reloaded::Unchanged => {}
        Reloaded::Loaded(n) => {
            m.policy_reloads_total.with_label_values(&["ok"]).inc();
            tracing::info!(path, policies = n, "policy chain reloaded");
        }
        Reloaded::Failed(e) => {
            m.policy_reloads_total.with_label_values(&["error"]).inc();
            tracing::error!(path, error = %e, "policy chain not reloaded; the previous one stays in force");
        }
    }
}
