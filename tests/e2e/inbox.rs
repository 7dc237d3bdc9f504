//! End to end with the real binary: a signed delivery is acknowledged only once it
//! is durable (kill -9 right after the 202 loses nothing), and `sluice instance` policy
//! changes reach the running server without a restart.

use crate::support::{admin_ok, metric_sum, metrics, sluice_on_test_db};
use serde_json::{Value, json};
use sluice_apub::signature::Signer;
use sluice_db::diesel;
use sluice_db::diesel_async::RunQueryDsl;
use sluice_testkit::{TestDb, http_client};
use std::time::{Duration, Instant, SystemTime};

/// A remote actor whose key sluice finds in `remote_key` (the database tier), so no peer
/// server is needed: `http://127.0.0.1:9/u/alice` is never fetched.
const ACTOR: &str = "http://127.0.0.1:9/u/alice";
const PEER_HOST: &str = "127.0.0.1:9";

pub(crate) async fn known_signer(t: &TestDb) -> Signer {
    let kp = sluice_apub::keypair::generate().unwrap();
    let key_id = format!("{ACTOR}#main-key");
    let (k, pem) = (key_id.clone(), kp.public_pem.clone());
    t.db.run("test_store_key", move |c| {
        Box::pin(async move { sluice_db::remote_keys::store(c, &k, ACTOR, &pem).await })
    })
    .await
    .unwrap();
    Signer::from_pem(&key_id, &kp.private_pem).unwrap()
}

pub(crate) fn like(n: u64) -> String {
    json!({"id": format!("http://{PEER_HOST}/activities/like/{n}"), "type": "Like",
        "actor": ACTOR, "object": format!("http://{PEER_HOST}/post/1")})
    .to_string()
}

pub(crate) async fn deliver(base: &str, signer: &Signer, body: &str) -> (u16, Value) {
    deliver_to(base, "/inbox", signer, body).await
}

async fn deliver_to(base: &str, path: &str, signer: &Signer, body: &str) -> (u16, Value) {
    let (status, answer, _) = deliver_answer(base, path, signer, body).await;
    (status, answer)
}

/// A signed delivery's status, JSON answer and `Retry-After`.
pub(crate) async fn deliver_answer(
    base: &str,
    path: &str,
    signer: &Signer,
    body: &str,
) -> (u16, Value, Option<String>) {
    let url = url::Url::parse(&format!("{base}{path}")).unwrap();
    let s = signer.sign("POST", &url, Some(body.as_bytes()), SystemTime::now());
    let r = http_client()
        .post(url)
        .header("Content-Type", "application/activity+json")
        .header("Date", s.date)
        .header("Digest", s.digest.unwrap())
        .header("Signature", s.signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    (status, r.json().await.unwrap_or(Value::Null), retry_after)
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    activity_id: String,
}

pub(crate) async fn journal(t: &TestDb) -> Vec<String> {
    let rows: Vec<Row> =
        t.db.run("test_journal", |c| {
            Box::pin(
                sluice_db::sql("SELECT activity_id FROM received_activity ORDER BY id").load(c),
            )
        })
        .await
        .unwrap();
    rows.into_iter().map(|r| r.activity_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_a_202_loses_nothing() {
    let (mut s, t) = sluice_on_test_db(&[]).await;
    let signer = known_signer(&t).await;
    let body = like(1);
    let (status, answer) = deliver(&s.base, &signer, &body).await;
    assert_eq!(status, 202, "{answer}\n{}", s.log_text());
    assert_eq!(answer["status"], "accepted");
    s.kill9();

    assert_eq!(
        journal(&t).await,
        vec![format!("http://{PEER_HOST}/activities/like/1")]
    );
    s.restart().await;
    // The sender retries (it never saw our answer, say): acknowledged, not stored twice.
    let (status, answer) = deliver(&s.base, &signer, &body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("duplicate")),
        "{answer}"
    );
    assert_eq!(journal(&t).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_commands_reach_the_running_server() {
    let (s, t) = sluice_on_test_db(&[("SLUICE_INBOX_REFRESH_MS", "100")]).await;
    let signer = known_signer(&t).await;
    assert_eq!(deliver(&s.base, &signer, &like(1)).await.0, 202);

    let run = |args: &[&str]| admin_ok(&s, args);
    run(&["instance", "block", PEER_HOST, "--reason", "spam waves"]);
    let list = run(&["instance", "list"]);
    assert!(
        list.contains("mode: open") && list.contains(PEER_HOST) && list.contains("spam waves"),
        "{list}"
    );

    let wait_for = |want: u16| {
        let (base, signer) = (s.base.clone(), signer.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let n = SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64;
                let (status, v) = deliver(&base, &signer, &like(n)).await;
                if status == want {
                    return v;
                }
                assert!(Instant::now() < deadline, "still {status}: {v}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let v = wait_for(403).await;
    assert_eq!(v["rc"], "InstanceBlocked");

    run(&["instance", "unblock", PEER_HOST]);
    wait_for(202).await;
    run(&["instance", "mode", "allowlist"]);
    assert_eq!(wait_for(403).await["rc"], "InstanceNotAllowed");
    run(&["instance", "allow", PEER_HOST]);
    wait_for(202).await;
    assert!(run(&["instance", "list"]).contains("mode: allowlist"));

    // What happened is visible in the metrics: results by rc, round-trips per ack.
    let metrics = metrics(&s.base).await;
    assert!(
        metrics.contains(r#"sluice_inbox_requests_total{rc="InstanceBlocked",result="rejected"}"#),
        "{metrics}"
    );
    assert!(metric_sum(&metrics, "sluice_inbox_ack_db_roundtrips_count") >= 3.0);
    assert!(metric_sum(&metrics, "sluice_key_lookups_total") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_actor_inboxes_exist_once_their_actors_do() {
    let (s, t) = sluice_on_test_db(&[("SLUICE_INBOX_REFRESH_MS", "100")]).await;
    let signer = known_signer(&t).await;
    let (status, v) = deliver_to(&s.base, "/c/rust/inbox", &signer, &like(1)).await;
    assert_eq!((status, v["rc"].as_str()), (404, Some("NotFound")), "{v}");

    for args in [
        &["community", "create", "rust"][..],
        &["user", "create", "bob"][..],
    ] {
        admin_ok(&s, args);
    }
    // Names are refreshed in the background (no database round-trip per request).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 2;
    for path in ["/c/rust/inbox", "/c/Rust/inbox", "/u/bob/inbox"] {
        loop {
            n += 1;
            let (status, v) = deliver_to(&s.base, path, &signer, &like(n)).await;
            if status == 202 {
                break;
            }
            assert_eq!(v["rc"], "NotFound", "{path}: {v}");
            assert!(Instant::now() < deadline, "{path} still 404");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(journal(&t).await.len(), 3);
}
