//! Webhooks through the real binary: events made by the database's own triggers (a report
//! stored, an instance dying and revived by `sluice instance revive`, a journal row given
//! up, a Fediseer sync applied by its own code) and by `sluice_webhook_emit` (the policy
//! chain's two event types), POSTed to receivers on loopback that check every signature
//! with an HMAC of their own; a receiver failing twice then succeeding, one failing every
//! time, the order of a webhook's events, `sluice webhook status`, and a private address
//! refused outside dev mode.

use crate::support::{BIN, admin_ok, env_pairs, run_sluice};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use sluice_testkit::lemmy::Rows;
use sluice_testkit::{Sluice, SluiceOptions, test_db};
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

const SECRET: &str = "a-webhook-secret-of-some-length";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    timestamp: String,
    signature: String,
    event: String,
    delivery: String,
    body: Vec<u8>,
    answered: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// A receiver: answers the statuses of `script` in turn, then `then` for ever.
struct Receiver {
    script: Mutex<VecDeque<u16>>,
    then: u16,
    got: Mutex<Vec<Got>>,
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let answered = r.script.lock().unwrap().pop_front().unwrap_or(r.then);
    r.got.lock().unwrap().push(Got {
        timestamp: header("x-sluice-timestamp"),
        signature: header("x-sluice-signature"),
        event: header("x-sluice-event"),
        delivery: header("x-sluice-delivery"),
        body: body.to_vec(),
        answered,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap()).finish()
}

/// Starts a receiver on a loopback port; returns it and its URL.
fn start_receiver(script: &[u16], then: u16) -> (web::Data<Receiver>, String) {
    let r = web::Data::new(Receiver {
        script: Mutex::new(script.iter().copied().collect()),
        then,
        got: Mutex::new(Vec::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let state = r.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (r, url)
}

/// The receiver's own check, as docs/webhooks.md tells one to write it: HMAC-SHA256 of
/// `"<timestamp>.<body>"` (RustCrypto's, not the ring sluice signs with), compared in
/// constant time, and a timestamp within 5 minutes.
fn verify(g: &Got, secret: &str) {
    let ts: u64 = g.timestamp.parse().expect("a numeric timestamp");
    let now = SystemTime::UNIX_EPOCH.elapsed().unwrap().as_secs();
    assert!(now.abs_diff(ts) <= 300, "timestamp {ts} is not now ({now})");
    let hex = g
        .signature
        .strip_prefix("sha256=")
        .unwrap_or_else(|| panic!("no sha256= prefix: {:?}", g.signature));
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let mut mac = hmac::Hmac::<sha2_rustcrypto::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(g.timestamp.as_bytes());
    mac.update(b".");
    mac.update(&g.body);
    mac.verify_slice(&tag)
        .unwrap_or_else(|_| panic!("bad signature on {}", String::from_utf8_lossy(&g.body)));
    let doc = g.json();
    assert_eq!(doc["event"], g.event.as_str());
    assert_eq!(doc["id"].to_string(), g.delivery);
}

/// A configuration file with these `[[webhook]]` tables: (name, url, events).
fn config_file(dir: &std::path::Path, hooks: &[(&str, &str, &[&str])]) -> String {
    let mut text = String::new();
    for (name, url, events) in hooks {
        let events: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
        text.push_str(&format!(
            "[[webhook]]\nname = {name:?}\nurl = {url:?}\nevents = [{}]\nsecret = {SECRET:?}\n\n",
            events.join(", ")
        ));
    }
    let path = dir.join("webhooks.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// sluice with these webhooks, quick polls and retries, on a fresh database.
async fn start(
    hooks: &[(&str, &str, &[&str])],
) -> (Sluice, sluice_testkit::TestDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), hooks);
    let t = test_db().await;
    let s = Sluice::start(
        BIN,
        SluiceOptions {
            database_url: Some(t.url.clone()),
            env: env_pairs(&[
                ("SLUICE_CONFIG", &config),
                ("SLUICE_WEBHOOK_POLL_MS", "20"),
                ("SLUICE_WEBHOOK_RETRY_BASE_S", "0.05"),
            ]),
            ..Default::default()
        },
    )
    .await;
    (s, t, dir)
}

/// A policy chain's decision about journal row N (`https://other.example/activities/N`,
/// created here; not from `peer.example`, which the queue would revive on seeing it): a `policy_decision` row as the pipeline writes it, whose trigger makes the
/// event. Without the chain's table (this branch alone), the event is made by calling
/// `sluice_webhook_emit` with the fields that trigger sends.
async fn policy_decision(rows: &Rows, n: u32, action: &str, policy: &str, rc: Option<&str>) {
    let activity = format!("https://other.example/activities/{n}");
    rows.exec(format!(
        "INSERT INTO received_activity (activity_id, actor, kind, raw, state) \
         VALUES ('{activity}', 'https://other.example/u/bob', 'Create', '{{}}', 'done')"
    ))
    .await;
    let rc = rc.map_or("NULL".to_string(), |rc| format!("'{rc}'"));
    let chain = rows
        .text("SELECT to_regclass('policy_decision')::text AS v")
        .await
        .is_some();
    if chain {
        rows.exec(format!(
            "INSERT INTO policy_decision (journal_id, activity_id, policy, action, rc, reason) \
             SELECT id, activity_id, '{policy}', '{action}', {rc}, 'decided by {policy}' \
             FROM received_activity WHERE activity_id = '{activity}'"
        ))
        .await;
    } else {
        let kind = if action == "reject" {
            "activity.rejected"
        } else {
            "activity.held"
        };
        rows.exec(format!(
            "SELECT sluice_webhook_emit('{kind}', jsonb_build_object( \
                 'journal_id', id, 'activity_id', activity_id, 'actor', actor, 'type', kind, \
                 'policy', '{policy}', 'rc', {rc}::text, 'reason', 'decided by {policy}')) \
             FROM received_activity WHERE activity_id = '{activity}'"
        ))
        .await;
    }
}

/// Waits until `r` got `n` requests; returns them.
async fn wait_for(r: &Receiver, n: usize, s: &Sluice) -> Vec<Got> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = r.got.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} requests arrived:\n{got:#?}\n{}",
            got.len(),
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `sluice webhook status --json`, by webhook name.
fn status_of(s: &Sluice, name: &str) -> Value {
    let doc: Value = serde_json::from_str(&admin_ok(s, &["webhook", "status", "--json"])).unwrap();
    doc["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in {doc}"))
}

/// Waits until `sluice webhook status` shows `name` with `delivered` and `failed`
/// deliveries and none pending; returns its row.
async fn wait_settled(s: &Sluice, name: &str, delivered: i64, failed: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = status_of(s, name);
        if st["delivered"] == delivered && st["failed"] == failed && st["pending"] == 0 {
            return st;
        }
        assert!(Instant::now() < deadline, "{name} never settled: {st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_is_delivered_signed_in_order() {
    let (r, url) = start_receiver(&[], 200);
    let all = [
        "report.received",
        "activity.rejected",
        "instance.dead",
        "instance.revived",
        "journal.failed",
        "activity.held",
        "policy.synced",
    ];
    // A second webhook that wants none of what happens below gets nothing.
    let (quiet, quiet_url) = start_receiver(&[], 200);
    let (s, t, _dir) = start(&[
        ("everything", &url, &all),
        ("quiet", &quiet_url, &["instance.dead"]),
    ])
    .await;
    let rows = Rows::new(t.db.clone());

    // report.received: a report row, as the pipeline writes one for a Flag.
    for statement in [
        "INSERT INTO instance (domain) VALUES ('peer.example')",
        "INSERT INTO person (ap_id, instance_id, name, inbox) \
         SELECT 'https://peer.example/u/alice', id, 'alice', 'https://peer.example/inbox' \
         FROM instance WHERE domain = 'peer.example'",
        "INSERT INTO report (ap_id, creator_id, object_ap_id, reason) \
         SELECT 'https://peer.example/flags/1', id, 'https://peer.example/post/9', 'spam' \
         FROM person WHERE name = 'alice'",
    ] {
        rows.exec(statement).await;
    }
    // activity.rejected: the policy chain's decision.
    policy_decision(&rows, 1, "reject", "keyword", Some("PolicyRejected")).await;
    for statement in [
        // instance.dead: the queue's flusher marks a delivery state dead (leased to another
        // process here, so this one's queue leaves it alone).
        "INSERT INTO delivery_state (instance_id, first_failure_at, last_error, lease_owner, \
                                     lease_until) \
         SELECT id, now() - interval '4 days', 'HTTP 502', 'elsewhere', now() + interval '1 h' \
         FROM instance WHERE domain = 'peer.example'",
        "UPDATE delivery_state SET state = 'dead'",
    ] {
        rows.exec(statement).await;
    }
    // instance.revived: by the admin command.
    let revived = admin_ok(&s, &["instance", "revive", "peer.example"]);
    assert!(revived.contains("revived"), "{revived}");
    for statement in [
        // journal.failed: the pipeline gives up on a row.
        "INSERT INTO received_activity (activity_id, actor, kind, raw, state) \
         VALUES ('https://peer.example/activities/2', 'https://peer.example/u/alice', \
                 'Like', '{}', 'done')",
        "UPDATE received_activity SET state = 'failed', error_code = 'FetchFailed', \
             error = 'HTTP 404', attempts = 5 \
         WHERE activity_id = 'https://peer.example/activities/2'",
    ] {
        rows.exec(statement).await;
    }
    // activity.held: the policy chain's decision.
    policy_decision(&rows, 3, "hold", "new-instance", None).await;
    // policy.synced: the Fediseer sync's own apply.
    sluice_db::synced_policy::apply(
        &t.db,
        vec![sluice_db::synced_policy::SyncedEntry {
            domain: "friendly.example".into(),
            policy: sluice_db::instances::Policy::Allow,
            reason: Some("good admins".into()),
            detail: "endorsed by feeler.example".into(),
        }],
    )
    .await
    .unwrap();

    let got = wait_for(&r, all.len(), &s).await;
    for g in &got {
        verify(g, SECRET);
    }
    let events: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    assert_eq!(
        events, all,
        "every type, in the order the changes were made"
    );
    let ids: Vec<i64> = got
        .iter()
        .map(|g| g.json()["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let body = |kind: &str| got.iter().find(|g| g.event == kind).unwrap().json();
    let report = body("report.received");
    assert_eq!(report["report"], "https://peer.example/flags/1");
    assert_eq!(report["reporter"], "https://peer.example/u/alice");
    assert_eq!(report["object"], "https://peer.example/post/9");
    assert_eq!(report["reason"], "spam");
    assert!(report["time"].as_str().unwrap().ends_with('Z'), "{report}");
    let rejected = body("activity.rejected");
    assert_eq!(rejected["rc"], "PolicyRejected");
    assert_eq!(rejected["policy"], "keyword");
    assert_eq!(
        rejected["activity_id"],
        "https://other.example/activities/1"
    );
    assert_eq!(rejected["actor"], "https://other.example/u/bob");
    assert_eq!(rejected["type"], "Create");
    let dead = body("instance.dead");
    assert_eq!(dead["instance"], "peer.example");
    assert_eq!(dead["last_error"], "HTTP 502");
    assert_eq!(body("instance.revived")["instance"], "peer.example");
    let failed = body("journal.failed");
    assert_eq!(failed["activity_id"], "https://peer.example/activities/2");
    assert_eq!(failed["rc"], "FetchFailed");
    assert_eq!(failed["attempts"], 5);
    let held = body("activity.held");
    assert_eq!(held["policy"], "new-instance");
    assert_eq!(held["activity_id"], "https://other.example/activities/3");
    assert_eq!(held["reason"], "decided by new-instance");
    let synced = body("policy.synced");
    assert_eq!(synced["changed"][0]["domain"], "friendly.example");
    assert_eq!(synced["changed"][0]["policy"], "allow");
    assert_eq!(synced["changed_count"], 1);
    assert_eq!(synced["allows"], 1);

    // "quiet" wanted instance.dead only: exactly that one event.
    let q = wait_for(&quiet, 1, &s).await;
    assert_eq!(q.len(), 1);
    verify(&q[0], SECRET);
    assert_eq!(q[0].event, "instance.dead");
    assert_eq!(q[0].delivery, dead["id"].to_string(), "one id per event");
    wait_settled(&s, "everything", 7, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_retries_then_failed_one_success_after_two_failures_and_order_kept() {
    // "flaky" fails the first event twice, then answers 200; "down" never answers 2xx.
    let (flaky, flaky_url) = start_receiver(&[500, 500], 200);
    let (down, down_url) = start_receiver(&[], 503);
    let (s, t, _dir) = start(&[
        ("flaky", &flaky_url, &["journal.failed"]),
        ("down", &down_url, &["journal.failed"]),
    ])
    .await;
    let rows = Rows::new(t.db.clone());
    for n in 1..=2 {
        rows.exec(format!(
            "SELECT sluice_webhook_emit('journal.failed', jsonb_build_object('journal_id', {n}))"
        ))
        .await;
    }

    // flaky: the first event three times (500, 500, 200), then the second once.
    let got = wait_for(&flaky, 4, &s).await;
    let seen: Vec<(i64, u16)> = got
        .iter()
        .map(|g| (g.json()["journal_id"].as_i64().unwrap(), g.answered))
        .collect();
    assert_eq!(seen, [(1, 500), (1, 500), (1, 200), (2, 200)]);
    for g in &got {
        verify(g, SECRET);
    }
    assert!(
        got[..3].iter().all(|g| g.body == got[0].body),
        "each attempt carries the same body"
    );
    // down: four attempts (the first and 3 retries) per event, then failed; the second
    // event's attempts come only after the first was given up.
    let got = wait_for(&down, 8, &s).await;
    let order: Vec<i64> = got
        .iter()
        .map(|g| g.json()["journal_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [1, 1, 1, 1, 2, 2, 2, 2]);
    let st = wait_settled(&s, "down", 0, 2).await;
    assert_eq!(st["last_error"], "HTTP 503");
    assert_eq!(down.got.lock().unwrap().len(), 8, "nothing after failed");
    wait_settled(&s, "flaky", 2, 0).await;
    assert_eq!(
        rows.count(
            "SELECT attempts::bigint AS v FROM webhook_delivery \
             WHERE webhook = 'flaky' ORDER BY event_id LIMIT 1"
        )
        .await,
        3
    );

    let table = admin_ok(&s, &["webhook", "status"]);
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in\n{table}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(line("flaky")[1..4], ["0", "2", "0"], "{table}");
    assert_eq!(line("down")[1..4], ["0", "0", "2"], "{table}");
    assert!(table.contains("HTTP 503"), "{table}");

    // `sluice doctor` warns about the webhook that loses events.
    let out = s.admin(&["doctor", "--samples", "5"]);
    let report = String::from_utf8_lossy(&out.stdout);
    let down_line = report
        .lines()
        .find(|l| l.contains("webhook") && l.contains("down ("))
        .unwrap_or_else(|| panic!("no webhook check for down:\n{report}"));
    assert!(
        down_line.contains("2 failed") && down_line.contains("HTTP 503"),
        "{down_line}"
    );

    // Every attempt counted by result.
    let body = crate::support::metrics(&s.base).await;
    let attempts = |hook: &str, result: &str| {
        let labels =
            format!("sluice_webhook_attempts_total{{result=\"{result}\",webhook=\"{hook}\"}}");
        body.lines()
            .find(|l| l.starts_with(&labels))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert_eq!(
        (attempts("flaky", "retry"), attempts("flaky", "delivered")),
        (2.0, 2.0),
        "{body}"
    );
    assert_eq!(
        (attempts("down", "retry"), attempts("down", "failed")),
        (6.0, 2.0),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_at_a_private_address_is_refused_outside_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.7/hook",
        "https://[fd00::1]/hook",
        "https://localhost/hook",
    ] {
        let config = config_file(dir.path(), &[("internal", url, &["report.received"])]);
        let env = env_pairs(&[
            ("SLUICE_CONFIG", &config),
            ("SLUICE_DOMAIN", "sluice.example"),
            ("SLUICE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ]);
        for args in [&["serve"][..], &["doctor"][..], &["webhook", "status"][..]] {
            let out = run_sluice(&env, args).await;
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{url}: sluice {args:?} accepted it");
            assert!(
                err.contains("internal") && (err.contains("private") || err.contains("public")),
                "{url}: sluice {args:?}: {err}"
            );
        }
    }
}
