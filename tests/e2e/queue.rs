//! The send queue through the real binary. Activities enter through the publish API
//! and reach `TestPeer`s, which verify every request with activitypub_federation (fetching
//! the signer's actor document from sluice, as Lemmy does): order, kill -9 and restart, two
//! processes sharing the work, a peer's 429 and 400.

use crate::support::{create_user, second_process, sluice_on_test_db};
use futures::FutureExt;
use serde_json::{Value, json};
use sluice_db::diesel;
use sluice_db::diesel_async::RunQueryDsl;
use sluice_testkit::http_client;
use sluice_testkit::peer::{Received, Reply, TestPeer};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

pub(crate) const TOKEN: &str = "e2e-publish-token";
const LIMIT: Duration = Duration::from_secs(60);

fn queue_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SLUICE_PUBLISH_TOKEN", TOKEN),
        // A restarted or surviving process takes over within ~2 s.
        ("SLUICE_DELIVERY_LEASE_SECS", "2"),
        ("SLUICE_DELIVERY_POLL_MS", "50"),
        ("SLUICE_DELIVERY_FLUSH_MS", "200"),
        // The adaptive window (the default), bounded at 8: the crash bound checked below.
        ("SLUICE_DELIVERY_WINDOW_MAX", "8"),
    ]
}

fn like(base: &str, actor: &str, n: usize) -> Value {
    json!({
        "id": format!("{base}/activities/like/{n}"),
        "type": "Like",
        "actor": actor,
        "object": format!("http://objects.test/post/{}", n % 4),
    })
}

pub(crate) async fn publish(base: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = http_client()
        .post(format!("{base}/api/v1/publish"))
        .json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Waits until `peer` has received `n` distinct activities; returns every request.
async fn wait_distinct(peer: &TestPeer, n: usize) -> Vec<Received> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let got = peer.received();
        let distinct: HashSet<_> = got.iter().filter_map(|r| r.activity_id.clone()).collect();
        if distinct.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} received {} of {n} activities",
            peer.domain(),
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every request authentic; every activity at least once; per object, first arrivals in
/// publication order; re-sends at most `window`. Returns the number of re-sends.
fn check_arrivals(got: &[Received], n: usize, window: usize) -> usize {
    for r in got {
        assert!(
            r.is_authentic(),
            "not verified by activitypub_federation: {:?} {:?}",
            r.activity_id,
            r.verify_error
        );
    }
    let mut seen = HashSet::new();
    let mut last: HashMap<String, usize> = HashMap::new();
    let mut again = 0;
    for r in got {
        let id = r.activity_id.clone().unwrap();
        if !seen.insert(id.clone()) {
            again += 1;
            continue;
        }
        let k: usize = id.rsplit('/').next().unwrap().parse().unwrap();
        let object = r.json.as_ref().unwrap()["object"]
            .as_str()
            .unwrap()
            .to_string();
        if let Some(prev) = last.insert(object.clone(), k) {
            assert!(
                k > prev,
                "{id} arrived after activity {prev} about {object}"
            );
        }
    }
    assert_eq!(seen.len(), n, "every activity arrived");
    assert!(
        again <= window,
        "{again} re-sent, more than the window {window}"
    );
    again
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_deliver_kill9_restart_resume_in_order() {
    let (mut s, t) = sluice_on_test_db(&queue_env()).await;
    let alice = create_user(&s, "alice");
    let peer = TestPeer::start().await;
    // Slow enough that the kill lands while deliveries are on the wire.
    peer.inbox_delay(Some(Duration::from_millis(50)));
    let inbox = peer.shared_inbox();

    // Refusals, each with its rc.
    let body = |activity: Value| json!({"actor": alice, "activity": activity, "inboxes": [inbox]});
    let (st, v) = publish(&s.base, None, &body(like(&s.base, &alice, 1))).await;
    assert_eq!((st, v["rc"].as_str()), (401, Some("TokenInvalid")));
    let (st, v) = publish(&s.base, Some("wrong"), &body(like(&s.base, &alice, 1))).await;
    assert_eq!((st, v["rc"].as_str()), (401, Some("TokenInvalid")));
    let foreign = like("http://elsewhere.test", &alice, 1);
    let (st, v) = publish(&s.base, Some(TOKEN), &body(foreign)).await;
    assert_eq!((st, v["rc"].as_str()), (400, Some("ActivityNotLocal")));
    let mut stolen = like(&s.base, &alice, 1);
    stolen["actor"] = json!(format!("{}/u/mallory", s.base));
    let (st, v) = publish(&s.base, Some(TOKEN), &body(stolen)).await;
    assert_eq!((st, v["rc"].as_str()), (400, Some("ActorMismatch")));
    let get = http_client()
        .get(format!("{}/api/v1/publish", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404);

    // 120 activities about 4 objects, published in order.
    let n = 120;
    let mut last_id = 0;
    for k in 1..=n {
        let (st, v) = publish(&s.base, Some(TOKEN), &body(like(&s.base, &alice, k))).await;
        assert_eq!(st, 202, "{v}");
        let id = v["id"].as_i64().unwrap();
        assert!(id > last_id, "outbound ids follow publication order");
        assert_eq!(v["targets"], 1);
        last_id = id;
    }
    let (st, v) = publish(&s.base, Some(TOKEN), &body(like(&s.base, &alice, 3))).await;
    assert_eq!(
        (st, v["duplicate"].as_bool()),
        (200, Some(true)),
        "logged once"
    );

    // Kill -9 in the middle of it, start again on the same database.
    peer.wait_received(15, LIMIT).await.unwrap();
    s.kill9();
    let before = peer.received().len();
    assert!(before < n, "the kill came too late to prove anything");
    s.restart().await;
    let got = wait_distinct(&peer, n).await;
    let resent = check_arrivals(&got, n, 8);
    eprintln!("kill -9 after {before} requests; {resent} re-sent after the restart");

    // The status API and the CLI agree that everything is delivered.
    let row = wait_cursor(&s.base, peer.domain(), last_id).await;
    assert_eq!(row["state"], "active");
    assert_eq!(row["lag_activities"], 0);
    assert_eq!(row["fail_count"], 0);
    let unauthorized = http_client()
        .get(format!("{}/api/v1/federation", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let out = s.admin(&["federation", "status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && table.contains(peer.domain()),
        "{table}"
    );
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_instances_and_the_survivor_takes_over() {
    let (mut s1, t) = sluice_on_test_db(&queue_env()).await;
    // Same instance, same database: the second process mints the same ids.
    let s2 = second_process(&s1, &t, &queue_env()).await;
    let alice = create_user(&s1, "alice");
    let mut peers = Vec::new();
    for _ in 0..4 {
        peers.push(TestPeer::start().await);
    }
    let inboxes: Vec<String> = peers.iter().map(|p| p.shared_inbox()).collect();
    for k in 1..=20 {
        let body =
            json!({"actor": alice, "activity": like(&s1.base, &alice, k), "inboxes": inboxes});
        let (st, v) = publish(&s1.base, Some(TOKEN), &body).await;
        assert_eq!(st, 202, "{v}");
    }
    for p in &peers {
        check_arrivals(&wait_distinct(p, 20).await, 20, 8);
    }

    // Each instance is served by exactly one process, and both serve some.
    let (p1, p2) = (s1.pid() as i32, s2.pid() as i32);
    let deadline = Instant::now() + LIMIT;
    loop {
        let owners = owner_pids(&t.db).await;
        assert_eq!(owners.len(), 4);
        let all_known = owners.iter().all(|o| *o == Some(p1) || *o == Some(p2));
        if all_known && owners.contains(&Some(p1)) && owners.contains(&Some(p2)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not shared: {owners:?} ({p1}, {p2})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One dies; the other takes its instances over and delivers what comes next.
    s1.kill9();
    for k in 21..=40 {
        let body =
            json!({"actor": alice, "activity": like(&s1.base, &alice, k), "inboxes": inboxes});
        let (st, v) = publish(&s2.base, Some(TOKEN), &body).await;
        assert_eq!(st, 202, "{v}");
    }
    for p in &peers {
        check_arrivals(&wait_distinct(p, 40).await, 40, 8);
    }
    let deadline = Instant::now() + LIMIT;
    while owner_pids(&t.db).await.iter().any(|o| *o != Some(p2)) {
        assert!(
            Instant::now() < deadline,
            "the survivor did not take everything over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `GET /api/v1/federation` with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_a_400_is_dropped_with_its_rc() {
    // Window 1, so the peer's scripted answers meet the activities in a known order.
    let mut env = queue_env();
    env.retain(|(k, _)| *k != "SLUICE_DELIVERY_WINDOW_MAX");
    env.push(("SLUICE_DELIVERY_CONCURRENCY", "fixed"));
    env.push(("SLUICE_DELIVERY_WINDOW", "1"));
    let (s, t) = sluice_on_test_db(&env).await;
    let alice = create_user(&s, "alice");
    let peer = TestPeer::start().await;
    peer.inbox_reply_next(
        1,
        Reply::TooManyRequests {
            retry_after: "2".into(),
        },
    );
    peer.inbox_reply_next(1, Reply::Status(400));
    let inbox = peer.shared_inbox();
    let mut ids = Vec::new();
    for k in 1..=3 {
        let body =
            json!({"actor": alice, "activity": like(&s.base, &alice, k), "inboxes": [inbox]});
        let (st, v) = publish(&s.base, Some(TOKEN), &body).await;
        assert_eq!(st, 202, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }

    // Activity 1: 429, then (no sooner than Retry-After) 400, which drops it; 2 and 3
    // follow, accepted.
    peer.wait_received(1, LIMIT).await.unwrap();
    let t429 = Instant::now();
    let got = peer.wait_received(2, LIMIT).await.unwrap();
    let waited = t429.elapsed();
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}, before Retry-After: 2"
    );
    let got = if got.len() < 4 {
        peer.wait_received(4, LIMIT).await.unwrap()
    } else {
        got
    };
    let seen: Vec<(usize, u16)> = got
        .iter()
        .map(|r| {
            let id = r.activity_id.clone().unwrap();
            (id.rsplit('/').next().unwrap().parse().unwrap(), r.status)
        })
        .collect();
    assert_eq!(seen, vec![(1, 429), (1, 400), (2, 200), (3, 200)]);
    assert!(got.iter().all(|r| r.is_authentic()), "every attempt signed");

    // The drop is recorded with its rc; the cursor passed everything; the streak is over.
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Failure {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        outbound_id: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
        status: Option<i32>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        error_code: String,
    }
    let row = wait_cursor(&s.base, peer.domain(), ids[2]).await;
    assert_eq!(
        (row["state"].as_str(), row["fail_count"].as_i64()),
        (Some("active"), Some(0))
    );
    let failures: Vec<Failure> =
        t.db.run("e2e_failures", |c| {
            sluice_db::sql("SELECT outbound_id, status, error_code FROM delivery_failure")
                .load(c)
                .boxed()
        })
        .await
        .unwrap();
    assert_eq!(
        failures,
        vec![Failure {
            outbound_id: ids[0],
            status: Some(400),
            error_code: "DeliveryRefused".into(),
        }]
    );
}

/// Waits until `GET /api/v1/federation` shows `domain`'s cursor at `outbound_id`; returns
/// that instance's row.
pub(crate) async fn wait_cursor(base: &str, domain: &str, outbound_id: i64) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let v = federation(base).await;
        let row = v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["domain"] == domain)
            .cloned()
            .unwrap();
        if row["last_delivered_id"] == outbound_id {
            return row;
        }
        assert!(Instant::now() < deadline, "cursor not persisted: {row}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn federation(base: &str) -> Value {
    let r = http_client().get(format!("{base}/api/v1/federation"));
    let resp = r.bearer_auth(TOKEN).send().await.unwrap();
    resp.json().await.unwrap()
}

/// The pid of the process serving each instance (by domain).
async fn owner_pids(db: &sluice_db::Db) -> Vec<Option<i32>> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
        pid: Option<i32>,
    }
    let rows: Vec<Row> = db
        .run("e2e_owners", |c| {
            sluice_db::sql(
                "SELECT n.pid FROM delivery_state d JOIN instance i ON i.id = d.instance_id \
                 LEFT JOIN node n ON n.id = d.lease_owner ORDER BY i.domain",
            )
            .load(c)
            .boxed()
        })
        .await
        .unwrap();
    rows.into_iter().map(|r| r.pid).collect()
}
