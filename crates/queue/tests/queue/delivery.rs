//! Delivery against real HTTP peers on 127.0.0.1 and a real PostgreSQL.

use crate::support;

use sluice_db::diesel;
use std::collections::HashSet;
use std::time::Duration;
use support::*;

const LIMIT: Duration = Duration::from_secs(30);

fn ids(v: &[i64]) -> Vec<String> {
    (1..=v.len())
        .map(|n| format!("http://{LOCAL}/activities/{n}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_window_delivers_everything_in_order_signed_by_each_actor() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let bob = local_actor(&t.db, "bob").await;
    let peer = trusting_peer(&t.db).await;
    let q = queue(&t.db, fast(1));
    let items = (1..=30usize)
        .map(|n| {
            let a = if n.is_multiple_of(2) { &alice } else { &bob };
            (a.clone(), activity(a, n, &format!("http://x/o{}", n % 3)))
        })
        .collect();
    let out = enqueue(&t.db, items, &[peer.shared_inbox()]).await;
    let got = peer.wait_accepted(30, LIMIT).await.unwrap();
    assert_eq!(got, ids(&out), "window 1: strictly in log order, each once");
    for h in peer.received() {
        let id = h.activity_id.unwrap();
        let n: usize = id.rsplit('/').next().unwrap().parse().unwrap();
        let signer = if n.is_multiple_of(2) { &alice } else { &bob };
        assert_eq!(
            h.key_id,
            Some(format!("{signer}#main-key")),
            "signed as its actor"
        );
    }
    let last = *out.last().unwrap();
    wait_state(&t.db, peer.domain(), LIMIT, |s| s.last_delivered_id == last).await;
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_delivery_keeps_order_per_object() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    // A little latency so that several requests really are on the wire together.
    let peer = trusting_peer(&t.db).await;
    peer.inbox_delay(Some(Duration::from_millis(20)));
    let q = queue(&t.db, fast(8));
    let items = (1..=60)
        .map(|n| {
            (
                alice.clone(),
                activity(&alice, n, &format!("http://x/o{}", n % 4)),
            )
        })
        .collect();
    let out = enqueue(&t.db, items, &[peer.shared_inbox()]).await;
    let got = peer.wait_accepted(60, LIMIT).await.unwrap();
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), 60, "each exactly once: {got:?}");
    assert_eq!(got.len(), 60);
    assert_in_order_per_object(&peer.received());
    let last = *out.last().unwrap();
    wait_state(&t.db, peer.domain(), LIMIT, |s| s.last_delivered_id == last).await;
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_failing_for_a_while_gets_everything_once_in_order() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    // 500 for the first 12 requests, then fine.
    let peer = trusting_peer(&t.db).await;
    peer.inbox_reply_next(12, Reply::Status(500));
    let q = queue(&t.db, fast(8));
    let items = (1..=20)
        .map(|n| {
            (
                alice.clone(),
                activity(&alice, n, &format!("http://x/o{}", n % 3)),
            )
        })
        .collect();
    let out = enqueue(&t.db, items, &[peer.shared_inbox()]).await;
    let got = peer
        .wait_accepted(20, Duration::from_secs(60))
        .await
        .unwrap();
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(
        (unique.len(), got.len()),
        (20, 20),
        "nothing lost, nothing accepted twice"
    );
    assert_in_order_per_object(&peer.received());
    let failed = peer.received().iter().filter(|h| h.status == 500).count();
    assert_eq!(failed, 12);
    let last = *out.last().unwrap();
    let s = wait_state(&t.db, peer.domain(), LIMIT, |s| s.last_delivered_id == last).await;
    assert_eq!(s.fail_count, 0, "the streak ended with the recovery");
    assert_eq!(s.last_error.as_deref(), Some("HTTP 500"));
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_hanging_peers_do_not_slow_the_healthy_one() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let healthy = trusting_peer(&t.db).await;
    // Nothing listens there.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Accepts connections, never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_port = hanging.local_addr().unwrap().port();
    let q = queue(&t.db, fast(8));
    let inboxes = vec![
        healthy.shared_inbox(),
        format!("http://127.0.0.1:{refused}/inbox"),
        format!("http://127.0.0.1:{hanging_port}/inbox"),
    ];
    let items = (1..=40)
        .map(|n| {
            (
                alice.clone(),
                activity(&alice, n, &format!("http://x/o{n}")),
            )
        })
        .collect();
    enqueue(&t.db, items, &inboxes).await;
    healthy.wait_accepted(40, LIMIT).await.unwrap();
    // All 40 reached the healthy peer while the other two have delivered nothing and are
    // backing off.
    let down = wait_state(&t.db, &format!("127.0.0.1:{refused}"), LIMIT, |s| {
        s.fail_count >= 1
    })
    .await;
    assert_eq!(down.last_delivered_id, 0);
    assert!(down.next_retry_at.is_some());
    assert!(down.last_error.as_deref().unwrap_or("").contains("network"));
    let stuck = state(&t.db, &format!("127.0.0.1:{hanging_port}"))
        .await
        .unwrap();
    assert_eq!(stuck.last_delivered_id, 0);
    drop(hanging);
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let peer = trusting_peer(&t.db).await;
    peer.inbox_reply_next(
        1,
        Reply::TooManyRequests {
            retry_after: "2".to_string(),
        },
    );
    let q = queue(&t.db, fast(4));
    let items = (1..=3)
        .map(|n| (alice.clone(), activity(&alice, n, "http://x/same")))
        .collect();
    enqueue(&t.db, items, &[peer.shared_inbox()]).await;
    peer.wait_accepted(3, LIMIT).await.unwrap();
    let hits = peer.received();
    assert_eq!(hits[0].status, 429);
    assert_eq!(
        hits[1].activity_id, hits[0].activity_id,
        "the same activity again"
    );
    let waited = hits[1].at - hits[0].at;
    // The first retry would be immediate; Retry-After: 2 made it wait (a lower bound the
    // queue guarantees, not a speed).
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_dropped_with_an_rc_and_the_rest_goes_on() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let bad = format!("http://{LOCAL}/activities/2");
    let peer = trusting_peer(&t.db).await;
    peer.inbox_reply_for(&bad, Reply::Status(400));
    let q = queue(&t.db, fast(1));
    let items = (1..=4)
        .map(|n| (alice.clone(), activity(&alice, n, "http://x/o")))
        .collect();
    let out = enqueue(&t.db, items, &[peer.shared_inbox()]).await;
    let got = peer.wait_accepted(3, LIMIT).await.unwrap();
    assert_eq!(
        got,
        vec![
            ids(&out)[0].clone(),
            ids(&out)[2].clone(),
            ids(&out)[3].clone()
        ]
    );
    let last = out[3];
    let s = wait_state(&t.db, peer.domain(), LIMIT, |s| s.last_delivered_id == last).await;
    assert_eq!(s.fail_count, 0, "a refusal is not a failure of the peer");
    let rows = failures(&t.db).await;
    assert_eq!(
        rows,
        vec![(out[1], Some(400), "DeliveryRefused".to_string())]
    );
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_instance_receives_nothing() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let peer = trusting_peer(&t.db).await;
    let other = trusting_peer(&t.db).await;
    let items = (1..=5)
        .map(|n| (alice.clone(), activity(&alice, n, "http://x/o")))
        .collect();
    let out = enqueue(&t.db, items, &[peer.shared_inbox(), other.shared_inbox()]).await;
    // Blocked after the activities were queued: checked again at send time.
    sluice_db::instances::set_policy(
        &t.db,
        &sluice_trust::host::InstanceHost::parse(peer.domain()).unwrap(),
        sluice_db::instances::Policy::Block,
        Some("test"),
    )
    .await
    .unwrap();
    let q = queue(&t.db, fast(8));
    other.wait_accepted(5, LIMIT).await.unwrap();
    let last = out[4];
    wait_state(&t.db, peer.domain(), LIMIT, |s| s.last_delivered_id == last).await;
    assert!(
        peer.received().is_empty(),
        "nothing reached the blocked instance"
    );
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_committed_late_is_not_skipped() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let peer = trusting_peer(&t.db).await;
    let q = queue(&t.db, fast(1));
    enqueue(
        &t.db,
        vec![(alice.clone(), activity(&alice, 1, "http://x/o"))],
        &[peer.shared_inbox()],
    )
    .await;
    peer.wait_accepted(1, LIMIT).await.unwrap();

    // Transaction A draws the next outbound id and stays open; transaction B draws a later
    // one and commits; C draws one and rolls back (a gap for good).
    let mut a = t.db.get().await.unwrap();
    begin(&mut a).await;
    let held = append_on(&mut a, &alice, 2, &peer.shared_inbox()).await;
    let after = enqueue(
        &t.db,
        vec![(alice.clone(), activity(&alice, 3, "http://x/o"))],
        &[peer.shared_inbox()],
    )
    .await;
    assert!(held < after[0]);
    let mut c = t.db.get().await.unwrap();
    begin(&mut c).await;
    append_on(&mut c, &alice, 99, &peer.shared_inbox()).await;
    end(&mut c, "ROLLBACK").await;
    enqueue(
        &t.db,
        vec![(alice.clone(), activity(&alice, 4, "http://x/o"))],
        &[peer.shared_inbox()],
    )
    .await;
    // Give the queue every chance to (wrongly) run ahead, then commit A.
    tokio::time::sleep(Duration::from_millis(500)).await;
    end(&mut a, "COMMIT").await;
    let got = peer.wait_accepted(4, LIMIT).await.unwrap();
    let n: Vec<&str> = got.iter().map(|s| s.rsplit('/').next().unwrap()).collect();
    assert_eq!(
        n,
        vec!["1", "2", "3", "4"],
        "2 was not skipped, and came in order"
    );
    q.shutdown().await;
}

async fn begin(c: &mut sluice_db::Conn) {
    end(c, "BEGIN").await
}

async fn end(c: &mut sluice_db::Conn, what: &'static str) {
    use futures::FutureExt;
    use sluice_db::diesel_async::SimpleAsyncConnection;
    c.run("test_tx", move |c| {
        async move { c.batch_execute(what).await }.boxed()
    })
    .await
    .unwrap();
}

async fn append_on(c: &mut sluice_db::Conn, actor: &str, n: usize, inbox: &str) -> i64 {
    use futures::FutureExt;
    use sluice_db::outbound::{Audience, NewOutbound, append};
    let item = NewOutbound {
        activity_id: format!("http://{LOCAL}/activities/{n}"),
        actor_ap_id: actor.to_string(),
        raw: activity(actor, n, "http://x/o"),
        object_ap_id: Some("http://x/o".into()),
        audience: Audience::Inboxes(vec![inbox.to_string()]),
    };
    c.run("test_append", move |c| {
        async move { append(c, &[item]).await }.boxed()
    })
    .await
    .unwrap()[0]
        .id
}

async fn failures(db: &sluice_db::Db) -> Vec<(i64, Option<i32>, String)> {
    use futures::FutureExt;
    use sluice_db::diesel::sql_types::{BigInt, Integer, Nullable, Text};
    use sluice_db::diesel_async::RunQueryDsl;
    #[derive(sluice_db::diesel::QueryableByName)]
    struct F {
        #[diesel(sql_type = BigInt)]
        outbound_id: i64,
        #[diesel(sql_type = Nullable<Integer>)]
        status: Option<i32>,
        #[diesel(sql_type = Text)]
        error_code: String,
    }
    let rows: Vec<F> = db
        .run("test_failures", |c| {
            sluice_db::sql(
                "SELECT outbound_id, status, error_code FROM delivery_failure ORDER BY id",
            )
            .load(c)
            .boxed()
        })
        .await
        .unwrap();
    rows.into_iter()
        .map(|f| (f.outbound_id, f.status, f.error_code))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_failing_too_long_is_dead_until_it_sends_us_something() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let domain = format!("127.0.0.1:{closed}");
    let mut cfg = fast(4);
    cfg.dead_after = Duration::from_millis(1500);
    let q = queue(&t.db, cfg.clone());
    enqueue(
        &t.db,
        vec![(alice.clone(), activity(&alice, 1, "http://x/o"))],
        &[format!("http://{domain}/inbox")],
    )
    .await;
    let s = wait_state(&t.db, &domain, LIMIT, |s| s.state == "dead").await;
    assert_eq!(s.lease_owner, None, "a dead instance is served by nobody");
    assert!(q.serving().is_empty());

    // It sends us an activity: it is alive again, and will be tried again.
    received_from(&t.db, &domain).await;
    let s = wait_state(&t.db, &domain, LIMIT, |s| s.state == "active").await;
    assert_eq!(s.fail_count, 0);
    q.shutdown().await;
}

async fn received_from(db: &sluice_db::Db, domain: &str) {
    use futures::FutureExt;
    use sluice_db::diesel::sql_types::Text;
    use sluice_db::diesel_async::RunQueryDsl;
    let (id, actor) = (
        format!("http://{domain}/activities/x"),
        format!("http://{domain}/u/someone"),
    );
    db.run("test_received", move |c| {
        sluice_db::sql(
            "INSERT INTO received_activity (activity_id, actor, kind, raw) VALUES ($1, $2, 'Like', '{}')",
        )
        .bind::<Text, _>(id)
        .bind::<Text, _>(actor)
        .execute(c)
        .boxed()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_recalls_what_a_window_has_not_yet_delivered() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    // The peer asks to be retried later until it opens; then it would accept everything.
    let peer = trusting_peer(&t.db).await;
    peer.inbox_reply(Reply::TooManyRequests {
        retry_after: "2".to_string(),
    });
    // One object: one activity on the wire at a time, the rest queued in the window.
    let items = (1..=5)
        .map(|n| (alice.clone(), activity(&alice, n, "http://x/o")))
        .collect();
    let out = enqueue(&t.db, items, &[peer.shared_inbox()]).await;
    let q = queue(&t.db, fast(8));
    // The first attempt was answered "later": it waits for its retry, the others queued.
    let deadline = std::time::Instant::now() + LIMIT;
    while peer.received().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no attempt reached the peer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sluice_db::instances::set_policy(
        &t.db,
        &sluice_trust::host::InstanceHost::parse(peer.domain()).unwrap(),
        sluice_db::instances::Policy::Block,
        Some("test"),
    )
    .await
    .unwrap();
    peer.inbox_reply(Reply::Lemmy);
    // Every one of them is finished (the cursor passes them all) without being delivered.
    let last = out[4];
    wait_state(&t.db, peer.domain(), LIMIT, |s| s.last_delivered_id == last).await;
    assert!(
        peer.accepted().is_empty(),
        "delivered after the block: {:?}",
        peer.accepted()
    );
    assert!(peer.received().iter().all(|h| h.status == 429));
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptive_window_after_a_429_waits_then_sends_one_at_a_time() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let peer = trusting_peer(&t.db).await;
    let answer = Duration::from_millis(50);
    peer.inbox_delay(Some(answer));
    // Fine long enough for the window to grow, then "slow down" three times.
    peer.inbox_reply_next(30, Reply::Lemmy);
    peer.inbox_reply_next(
        3,
        Reply::TooManyRequests {
            retry_after: "1".to_string(),
        },
    );
    let cfg = sluice_queue::QueueConfig {
        window: sluice_queue::WindowConfig::Adaptive { max: 16 },
        ..fast(1)
    };
    let q = queue(&t.db, cfg);
    let items = (1..=60)
        .map(|n| {
            (
                alice.clone(),
                activity(&alice, n, &format!("http://x/o{}", n % 10)),
            )
        })
        .collect();
    let out = enqueue(&t.db, items, &[peer.shared_inbox()]).await;
    let got = peer.wait_accepted(60, LIMIT).await.unwrap();
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!((unique.len(), got.len()), (60, 60), "each exactly once");
    let hits = peer.received();
    assert_in_order_per_object(&hits);
    assert!(
        hits[..30].windows(2).any(|w| w[1].at < w[0].at + answer),
        "the window had grown past 1 before the 429s"
    );
    // Every activity answered 429 came again only after its Retry-After (a lower bound the
    // queue guarantees, measured from the earliest the answer can have left the peer).
    let refused: Vec<&Received> = hits.iter().filter(|h| h.status == 429).collect();
    assert!(!refused.is_empty());
    for r in &refused {
        let again = hits
            .iter()
            .find(|h| h.seq > r.seq && h.activity_id == r.activity_id)
            .expect("retried");
        let waited = again.at.saturating_duration_since(r.at + answer);
        assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    }
    // The window fell to 1: the first retry is alone on the wire until it is answered.
    let first = hits
        .iter()
        .filter(|h| {
            refused
                .iter()
                .any(|r| r.activity_id == h.activity_id && h.seq > r.seq)
        })
        .min_by_key(|h| h.seq)
        .unwrap();
    let beside = hits
        .iter()
        .filter(|h| h.seq != first.seq && h.at >= first.at && h.at < first.at + answer)
        .count();
    assert_eq!(beside, 0, "nothing beside the first retry");
    let last = *out.last().unwrap();
    wait_state(&t.db, peer.domain(), LIMIT, |s| s.last_delivered_id == last).await;
    q.shutdown().await;
}
