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
