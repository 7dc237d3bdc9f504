//! Helpers shared by the end-to-end modules.

use sluice_testkit::{Sluice, SluiceOptions, test_db};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// sluice on a fresh test database.
pub async fn sluice_on_test_db(extra_env: &[(&str, &str)]) -> (Sluice, sluice_testkit::TestDb) {
    let t = test_db().await;
    let s = Sluice::start(
        BIN,
        SluiceOptions {
            database_url: Some(t.url.clone()),
            env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
    )
    .await;
    (s, t)
}

/// Process ids of `postgres` processes whose command line mentions `needle`.
pub fn postgres_processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        if comm.trim() == "postgres" && cmdline.contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// The `/metrics` body of the sluice at `base`.
pub async fn metrics(base: &str) -> String {
    sluice_testkit::http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the /metrics body")
}

/// Sum of every sample of `metric` in a Prometheus text body.
pub fn metric_sum(body: &str, metric: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `sluice ARGS` with exactly `env` (plus `PATH`), without blocking the runtime (tests
/// may serve things the command talks to, such as a latency proxy).
pub async fn run_sluice(env: &[(String, String)], args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SLUICE_LOG", "warn")
        .envs(env.iter().cloned())
        .args(args)
        .output()
        .await
        .expect("run sluice")
}

/// `(key, value)` pairs as owned strings.
pub fn env_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
