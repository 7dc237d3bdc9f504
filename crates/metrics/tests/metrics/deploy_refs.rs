//! The Grafana dashboard and the Prometheus alerts only use metrics that exist.
//!
//! A renamed metric would otherwise leave an empty panel or an alert that never fires,
//! and nobody would notice until the day it mattered.

use sluice_metrics::global;
use std::collections::BTreeSet;

fn repo_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Every `sluice_...` metric name in a PromQL text.
fn metric_names(promql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = promql.as_bytes();
    let mut i = 0;
    while let Some(pos) = promql[i..].find("sluice_") {
        let start = i + pos;
        let preceded_by_word =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = promql[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(promql.len(), |e| start + e);
        if !preceded_by_word {
            out.insert(promql[start..end].to_string());
        }
        i = end;
    }
    out
}

/// Is `name` a series that a registered family exposes?
fn exists(name: &str) -> bool {
    global().catalog().iter().any(|f| {
        f.name == name
            || (f.kind == "histogram"
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{}{s}", f.name)))
    })
}

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_parses_and_uses_only_registered_metrics() {
    let dash: serde_json::Value =
        serde_json::from_str(&repo_file("deploy/grafana/sluice.json")).expect("dashboard is JSON");
    assert_eq!(dash["uid"], "sluice-overview");
    let mut all = Vec::new();
    exprs(&dash, &mut all);
    assert!(
        all.len() >= 20,
        "the dashboard has its panels: {}",
        all.len()
    );
    let mut used = BTreeSet::new();
    for e in &all {
        let names = metric_names(e);
        assert!(
            !names.is_empty(),
            "a panel query uses no sluice metric: {e}"
        );
        for n in names {
            assert!(
                exists(&n),
                "dashboard uses {n}, which is not registered: {e}"
            );
            used.insert(n);
        }
    }
    // The panels the issue asks for.
    for needed in [
        "sluice_inbox_requests_total",
        "sluice_inbox_ack_seconds_bucket",
        "sluice_inbox_ack_time_seconds_sum",
        "sluice_pipeline_time_seconds_sum",
        "sluice_inbox_ack_db_roundtrips_sum",
        "sluice_pipeline_db_roundtrips_per_activity_sum",
        "sluice_journal_lag_seconds",
        "sluice_queue_lag_seconds",
        "sluice_fetch_duration_seconds_bucket",
        "sluice_db_pool_in_use",
        "sluice_db_pool_waiters",
    ] {
        assert!(used.contains(needed), "no panel shows {needed}");
    }
    // Every panel has a unique id.
    let ids: Vec<i64> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len());
}

#[test]
fn the_alerts_use_only_registered_metrics() {
    let rules = repo_file("deploy/prometheus/alerts.yml");
    let names = metric_names(&rules);
    for needed in [
        "sluice_journal_lag_seconds",
        "sluice_queue_lag_seconds",
        "sluice_db_roundtrips_total",
        "sluice_db_pool_waiters",
        "sluice_inbox_requests_total",
    ] {
        assert!(names.contains(needed), "no alert on {needed}");
    }
    for n in names {
        assert!(exists(&n), "alerts.yml uses {n}, which is not registered");
    }
}

#[test]
fn the_name_scanner_finds_names_and_suffixes() {
    let n =
        metric_names(r#"rate(sluice_a_total{job="sluice"}[5m]) / x_sluice_not + sluice_b_bucket"#);
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        vec!["sluice_a_total", "sluice_b_bucket"]
    );
}
