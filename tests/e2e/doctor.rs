//! `sluice doctor` measures the database's distance and says what it means.
//!
//! The far database is the test database behind the bench crate's latency proxy (25 ms
//! each way). The bounds on its round-trip are the configured delay being measured (a
//! round-trip cannot take less than 50 ms through it), kept generous above; they are not
//! speed targets.

use crate::support::{BIN, env_pairs, run_sluice, sluice_on_test_db};
use serde_json::Value;
use sluice_bench::{LatencyProxy, Target};
use sluice_testkit::{Sluice, SluiceOptions, free_port, test_db};
use std::net::ToSocketAddrs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

/// Where the test database really is, and its URL through a proxy on `proxy_port`.
/// The private test cluster listens on a unix socket only; the proxy forwards to either.
fn behind_proxy(url: &str) -> (Target, impl Fn(u16) -> String) {
    let u = url::Url::parse(url).expect("database URL");
    let port = u.port().unwrap_or(5432);
    let socket_dir = u
        .query_pairs()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.to_string())
        .filter(|h| h.starts_with('/'));
    let target = match socket_dir {
        Some(dir) => Target::Unix(format!("{dir}/.s.PGSQL.{port}").into()),
        None => Target::Tcp(
            (u.host_str().expect("host"), port)
                .to_socket_addrs()
                .expect("resolve")
                .next()
                .expect("an address"),
        ),
    };
    let user = u.username().to_string();
    let password = u.password().map(|p| format!(":{p}")).unwrap_or_default();
    let db = u.path().to_string();
    (target, move |p: u16| {
        format!("postgres://{user}{password}@127.0.0.1:{p}{db}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_25_ms_away_is_measured_and_explained() {
    let t = test_db().await;
    let (target, via) = behind_proxy(&t.url);
    let proxy = LatencyProxy::start(target, Duration::from_millis(25))
        .await
        .unwrap();
    let env = env_pairs(&[("SLUICE_DATABASE_URL", &via(proxy.addr().port()))]);

    let out = run_sluice(&env, &["doctor", "--json", "--samples", "20"]).await;
    let r = json_of(&out);
    assert!(out.status.success(), "warnings alone exit 0: {r:#}");
    let p50 = r["db_rtt_ms"]["p50"].as_f64().expect("p50");
    assert!(
        (45.0..200.0).contains(&p50),
        "p50 {p50} ms through a 2 x 25 ms proxy"
    );
    assert_eq!(r["db_rtt_ms"]["samples"], 20);
    let rtt = check(&r, "db_roundtrip");
    assert_eq!(rtt["status"], "warn", "{rtt}");
    let msg = rtt["message"].as_str().unwrap();
    assert!(msg.contains("another data centre"), "{msg}");
    assert!(
        msg.contains("one serial sender can deliver at most ~") && msg.contains("activities/s"),
        "{msg}"
    );
    // A commit is two round-trips: it cannot be faster than twice the delay there and back.
    assert!(r["commit_ms"]["p50"].as_f64().unwrap() >= 90.0, "{r:#}");
    assert_eq!(check(&r, "migrations")["status"], "ok");
    assert_eq!(r["status"], "warn");
    // 50 ms per round-trip caps a serial sender at ~20/s: the local journal is recommended.
    let journal = check(&r, "journal");
    assert_eq!(journal["status"], "warn", "{journal}");
    assert!(
        journal["message"]
            .as_str()
            .unwrap()
            .contains("Set journal = \"local\""),
        "{journal}"
    );

    // The report for people prints the same verdict.
    let out = run_sluice(&env, &["doctor", "--samples", "5"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("db_roundtrip"))
        .unwrap_or_else(|| panic!("no db_roundtrip line:\n{text}"));
    assert!(line.trim_start().starts_with("warn"), "{line}");
    assert!(
        line.contains("activities/s") && line.contains("Put sluice next to its database"),
        "{line}"
    );
    assert!(proxy.connections() >= 2, "doctor went through the proxy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_database_is_close_whether_or_not_serve_runs() {
    // In /tmp and traversable: as root the embedded cluster runs as `postgres`.
    let dir = tempfile::Builder::new()
        .prefix("sluice-doctor")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = dir.path().display().to_string();
    let env = env_pairs(&[("SLUICE_DATA_DIR", &data_dir), ("SLUICE_DEV_MODE", "1")]);

    // Nothing runs yet: doctor starts the cluster for its own duration, applies nothing.
    let out = run_sluice(&env, &["doctor", "--json", "--samples", "20"]).await;
    let r = json_of(&out);
    assert!(out.status.success(), "{r:#}");
    assert_eq!(
        check(&r, "migrations")["status"],
        "warn",
        "not applied by doctor"
    );
    assert!(r["commit_ms"].is_null(), "no probe table before migrations");
    assert!(r["db_rtt_ms"]["p50"].as_f64().unwrap() < 5.0, "{r:#}");

    // With serve running, doctor attaches to its cluster.
    let s = Sluice::start(
        BIN,
        SluiceOptions {
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await;
    let out = run_sluice(&s.env, &["doctor", "--json", "--samples", "20"]).await;
    let r = json_of(&out);
    assert!(out.status.success(), "{r:#}");
    assert!(r["db_rtt_ms"]["p50"].as_f64().unwrap() < 5.0, "{r:#}");
    for ok in ["database", "durability", "migrations"] {
        assert_eq!(check(&r, ok)["status"], "ok", "{ok}: {r:#}");
    }
    // The commit verdict depends on measured fsync time, which a loaded test machine can
    // push past the warning threshold; it must never fail.
    let commit = check(&r, "commit")["status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(commit == "ok" || commit == "warn", "commit: {r:#}");
    // dev_mode is flagged, but a warning does not fail the run.
    assert_eq!(check(&r, "configuration")["status"], "warn");
    assert!(r["pool_checkout_ms"]["p50"].as_f64().is_some());
    assert!(r["commit_ms"]["flush_p50"].as_f64().is_some());
    // The running server is untouched.
    let ready = sluice_testkit::http_client()
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_with_one_line() {
    let port = free_port();
    let env = env_pairs(&[(
        "SLUICE_DATABASE_URL",
        &format!("postgres://sluice:secret@127.0.0.1:{port}/sluice"),
    )]);
    let out = run_sluice(&env, &["doctor"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{stderr}");
    assert!(
        lines[0].starts_with("error: doctor: database: cannot reach"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(&format!("127.0.0.1:{port}")),
        "{}",
        lines[0]
    );
    assert!(
        !lines[0].contains("secret"),
        "the password is redacted: {}",
        lines[0]
    );

    let out = run_sluice(&env, &["doctor", "--json"]).await;
    assert!(!out.status.success());
    let r = json_of(&out);
    assert_eq!(r["status"], "fail");
    assert_eq!(check(&r, "database")["status"], "fail");
    assert!(r["db_rtt_ms"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_is_timed_step_by_step_and_private_peers_need_dev_mode() {
    let (s, t) = sluice_on_test_db(&[]).await;
    let peer = format!("127.0.0.1:{}", s.port);
    let dev = env_pairs(&[("SLUICE_DATABASE_URL", &t.url), ("SLUICE_DEV_MODE", "1")]);
    let out = run_sluice(
        &dev,
        &["doctor", "--json", "--samples", "5", "--peer", &peer],
    )
    .await;
    let r = json_of(&out);
    assert!(out.status.success(), "{r:#}");
    for c in ["peer_dns", "peer_tcp", "peer_tls", "peer_nodeinfo"] {
        assert_eq!(check(&r, c)["status"], "ok", "{c}: {r:#}");
    }
    assert_eq!(
        r["peer"]["software"],
        format!("sluice {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(r["peer"]["tcp_ms"].as_f64().is_some());
    assert!(r["peer"]["tls_ms"].is_null(), "plain http in dev_mode");

    // TLS to something that does not speak it fails that step (and loads the trust store).
    let tls = format!("https://{peer}");
    let out = run_sluice(
        &dev,
        &["doctor", "--json", "--samples", "5", "--peer", &tls],
    )
    .await;
    assert!(!out.status.success());
    let r = json_of(&out);
    assert_eq!(check(&r, "peer_tcp")["status"], "ok", "{r:#}");
    let tls = check(&r, "peer_tls");
    assert_eq!(tls["status"], "fail", "{r:#}");
    assert!(
        tls["message"].as_str().unwrap().contains("TLS handshake"),
        "{tls}"
    );

    // Outside dev_mode, a loopback peer is refused like sluice refuses it.
    let prod = env_pairs(&[("SLUICE_DATABASE_URL", &t.url)]);
    let out = run_sluice(
        &prod,
        &["doctor", "--json", "--samples", "5", "--peer", &peer],
    )
    .await;
    assert!(!out.status.success());
    let r = json_of(&out);
    let dns = check(&r, "peer_dns");
    assert_eq!(dns["status"], "fail");
    assert!(
        dns["message"].as_str().unwrap().contains("loopback"),
        "{dns}"
    );
}
