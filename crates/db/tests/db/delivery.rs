//! The send queue's statements cost what their docs say, counted on the wire.

use chrono::Utc;
use futures::FutureExt;
use serde_json::json;
use sluice_db::delivery::{self, FailureRow, StateRow};
use sluice_db::leases::{self, NodeId};
use sluice_db::outbound::{AppendOnce, Audience, NewOutbound, append_once};
use sluice_db::{Db, PoolOptions};
use std::time::Duration;

/// Round-trips of the second run of `op` (the first one prepares its statements).
async fn cost<T, F, Fut>(db: &Db, mut op: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    op().await;
    let before = db.roundtrips();
    op().await;
    db.roundtrips() - before
}

fn like(n: u32) -> NewOutbound {
    NewOutbound {
        activity_id: format!("https://local.test/activities/{n}"),
        actor_ap_id: "https://local.test/u/alice".into(),
        raw: json!({"id": format!("https://local.test/activities/{n}"), "type": "Like"}),
        object_ap_id: Some("https://peer.test/post/1".into()),
        audience: Audience::Inboxes(vec!["https://peer.test/inbox".into()]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_statements_are_one_roundtrip_each() {
    let t = sluice_testkit::test_db().await;
    // One connection, so that the warm-up run prepares the statements the measured run uses.
    let db = Db::connect(
        &t.url,
        PoolOptions {
            max_size: 1,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let first = match append_once(&db, like(1)).await.unwrap() {
        AppendOnce::Appended(a) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(first.targets, 1);
    let mut n = 1;
    let appends = cost(&db, || {
        n += 1;
        append_once(&db, like(n)).map(|r| r.unwrap())
    });
    assert_eq!(appends.await, 3, "publish: lock + look-up, append, commit");
    assert_eq!(
        cost(&db, || append_once(&db, like(1))).await,
        2,
        "a duplicate publish: lock + look-up, commit"
    );

    let node = NodeId {
        id: "test-node".into(),
        hostname: "test".into(),
        pid: 1,
    };
    let ttl = Duration::from_secs(30);
    let hb = leases::heartbeat(&db, &node, ttl, 100).await.unwrap();
    assert_eq!(hb.claimed.len(), 1, "the new instance's lease");
    assert_eq!(
        (hb.live_nodes, hb.active_instances, hb.fair_share()),
        (1, 1, 1)
    );
    let inst = hb.claimed[0].instance_id;
    assert_eq!(
        cost(&db, || leases::heartbeat(&db, &node, ttl, 100)).await,
        1
    );

    assert_eq!(
        cost(&db, || delivery::probe_horizon(&db, 0, &[1, 2])).await,
        1
    );
    assert_eq!(cost(&db, || delivery::new_work(&db, 0, 10)).await, 1);
    assert_eq!(cost(&db, || delivery::fetch(&db, inst, 0, 10, 64)).await, 1);
    let state = StateRow {
        instance_id: inst,
        last_delivered_id: first.id,
        fail_count: 0,
        next_retry_at: None,
        first_failure_at: None,
        last_success_at: Some(Utc::now()),
        last_failure_at: None,
        last_error: None,
        state: "active".into(),
    };
    let failure = FailureRow {
        outbound_id: first.id,
        instance_id: inst,
        inbox: "https://peer.test/inbox".into(),
        status: Some(400),
        error_code: "DeliveryRefused".into(),
        error: "HTTP 400".into(),
    };
    let written = delivery::flush(&db, &node.id, vec![state.clone()], vec![failure.clone()])
        .await
        .unwrap();
    assert_eq!(written, vec![inst]);
    assert_eq!(
        cost(&db, || delivery::flush(
            &db,
            &node.id,
            vec![state.clone()],
            vec![failure.clone()]
        ))
        .await,
        1,
        "every cursor of the process and the new failures: one round-trip"
    );
    let cursors = [(inst, 0)];
    assert_eq!(cost(&db, || delivery::lag(&db, &cursors, 1000)).await, 1);
    assert_eq!(cost(&db, || delivery::status(&db)).await, 1);

    // Fenced: another node cannot write this instance's cursor.
    let other = delivery::flush(&db, "someone-else", vec![state], vec![])
        .await
        .unwrap();
    assert!(other.is_empty());
}

/// Webhook deliveries: one process at a time sends a webhook's (its lease), an attempt is
/// recorded only while the lease is held, the oldest pending delivery goes first, and an
/// event no webhook wants writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_leased_fenced_and_oldest_first() {
    use diesel_async::RunQueryDsl;
    use sluice_db::webhooks::{self, Attempt};
    let t = sluice_testkit::test_db().await;
    let db = &t.db;
    webhooks::configure(db, vec![("ops".into(), vec!["journal.failed".into()])])
        .await
        .unwrap();
    let emit = |kind: &'static str, n: i64| {
        let db = db.clone();
        async move {
            db.run("test_emit", move |c| {
                diesel::sql_query(format!(
                    "SELECT sluice_webhook_emit('{kind}', jsonb_build_object('n', {n}))"
                ))
                .execute(c)
                .map(|r| r.map(|_| ()))
                .boxed()
            })
            .await
            .unwrap()
        }
    };
    emit("report.received", 0).await;
    emit("journal.failed", 1).await;
    emit("journal.failed", 2).await;
    let lease = Duration::from_secs(60);

    let head = webhooks::head(db, "ops", "a", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        head.kind, "journal.failed",
        "report.received is wanted by nobody"
    );
    assert!(head.payload.contains("\"n\": 1"), "{}", head.payload);
    assert!(head.due_in <= 0.0);
    assert_eq!(webhooks::head(db, "ops", "b", lease).await.unwrap(), None);
    let failed_once = Attempt {
        attempts: 1,
        state: "pending",
        retry_in: Duration::from_secs(30),
        status: Some(500),
        error: Some("HTTP 500".into()),
    };
    assert!(
        !webhooks::record(db, "ops", "b", head.event_id, failed_once.clone())
            .await
            .unwrap()
    );
    assert!(
        webhooks::record(db, "ops", "a", head.event_id, failed_once)
            .await
            .unwrap()
    );
    // Still the head (order kept), now waiting for its retry.
    let again = webhooks::head(db, "ops", "a", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.event_id, again.attempts), (head.event_id, 1));
    assert!(again.due_in > 20.0, "{}", again.due_in);
    let st = &webhooks::status(db).await.unwrap()[0];
    assert_eq!((st.pending, st.delivered, st.failed), (2, 0, 0));
    assert!(st.next_retry_at.is_some());
    assert_eq!(st.last_error.as_deref(), Some("HTTP 500"));

    // An expired lease goes to whoever asks next.
    webhooks::head(db, "ops", "a", Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        webhooks::head(db, "ops", "b", lease)
            .await
            .unwrap()
            .is_some()
    );
    let delivered = Attempt {
        attempts: 2,
        state: "delivered",
        retry_in: Duration::ZERO,
        status: Some(204),
        error: None,
    };
    assert!(
        webhooks::record(db, "ops", "b", head.event_id, delivered)
            .await
            .unwrap()
    );
    let next = webhooks::head(db, "ops", "b", lease)
        .await
        .unwrap()
        .unwrap();
    assert!(next.payload.contains("\"n\": 2"), "{}", next.payload);
    let st = &webhooks::status(db).await.unwrap()[0];
    assert_eq!((st.pending, st.delivered, st.next_retry_at), (1, 1, None));

    // A webhook no longer configured gets no new events.
    webhooks::configure(db, vec![]).await.unwrap();
    emit("journal.failed", 3).await;
    let st = &webhooks::status(db).await.unwrap()[0];
    assert!(!st.enabled);
    assert_eq!(st.pending, 1);
}

/// Events are caused by peers: a receiver that is down must not let its backlog grow without
/// end. Once the oldest pending delivery is 10,000 events behind, new events are counted as
/// dropped, not queued, and queuing resumes once the backlog shrinks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_backlog_stops_at_its_bound_and_counts_what_it_dropped() {
    use diesel_async::RunQueryDsl;
    use sluice_db::webhooks;
    let t = sluice_testkit::test_db().await;
    let db = &t.db;
    webhooks::configure(db, vec![("ops".into(), vec!["journal.failed".into()])])
        .await
        .unwrap();
    let run = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.run("test_sql", move |c| {
                diesel::sql_query(sql)
                    .execute(c)
                    .map(|r| r.map(|_| ()))
                    .boxed()
            })
            .await
            .unwrap()
        }
    };
    run(
        "SELECT sluice_webhook_emit('journal.failed', jsonb_build_object('n', n)) \
         FROM generate_series(1, 10003) n",
    )
    .await;
    let ops =
        |rows: Vec<webhooks::WebhookStatus>| rows.into_iter().find(|r| r.name == "ops").unwrap();
    let s = ops(webhooks::status(db).await.unwrap());
    assert_eq!((s.pending, s.dropped), (10_000, 3));

    run("UPDATE webhook_delivery SET state = 'delivered' \
         WHERE event_id IN (SELECT event_id FROM webhook_delivery ORDER BY event_id LIMIT 10)")
    .await;
    run("SELECT sluice_webhook_emit('journal.failed', '{}'::jsonb)").await;
    let s = ops(webhooks::status(db).await.unwrap());
    assert_eq!((s.pending, s.dropped), (9_991, 3));
}
