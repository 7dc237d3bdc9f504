//! Key resolution tiers: memory, then `remote_key`, then a signed fetch; one refetch on a
//! failed signature (rotation); a Delete of an actor that is 410 Gone.

use crate::support::{Harness, activity_id, like, with_alice};
use serde_json::json;
use sluice_testkit::peer::Behaviour;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_from_memory_then_database_then_the_peer() {
    let (h, peer, alice) = with_alice(|_| {}).await;

    // Concurrent first deliveries: one fetch between them.
    let (a, b) = futures::future::join(h.like(&peer, &alice), h.like(&peer, &alice)).await;
    assert_eq!((a, b), (202, 202));
    assert_eq!(
        peer.fetch_count("/u/alice"),
        1,
        "one fetch for concurrent first deliveries"
    );
    // Memory.
    assert_eq!(h.like(&peer, &alice).await, 202);
    assert_eq!(peer.fetch_count("/u/alice"), 1);

    // A new process on the same database: the key comes from remote_key, not the peer.
    let t = h.t;
    let h2 = Harness::start_on(t, |_| {}).await;
    let before = h2.inbox_db.roundtrips();
    assert_eq!(h2.like(&peer, &alice).await, 202);
    assert_eq!(
        peer.fetch_count("/u/alice"),
        1,
        "the database tier answered"
    );
    assert!(
        h2.inbox_db.roundtrips() - before >= 2,
        "one key lookup and the insert"
    );
    assert_eq!(h2.journal().await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_refetched_once() {
    let (h, peer, alice) = with_alice(|c| c.key_refetch_after = Duration::ZERO).await;
    assert_eq!(h.like(&peer, &alice).await, 202);
    assert_eq!(peer.fetch_count("/u/alice"), 1);

    peer.rotate_key("alice").await;
    assert_eq!(h.like(&peer, &alice).await, 202);
    assert_eq!(peer.fetch_count("/u/alice"), 2, "exactly one refetch");
    // The new key is now the cached one.
    assert_eq!(h.like(&peer, &alice).await, 202);
    assert_eq!(peer.fetch_count("/u/alice"), 2);

    // A signature that fails even with a fresh key: one refetch, then 401.
    let a = h
        .receive_with(
            &peer,
            &alice,
            &like(&peer, &alice),
            sluice_testkit::peer::Tamper::SignedWithWrongKey,
        )
        .await;
    assert_eq!((a.status, a.rc()), (401, "SignatureInvalid"), "{}", a.body);
    assert_eq!(peer.fetch_count("/u/alice"), 3);
    assert_eq!(h.journal().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_young_key_is_not_refetched_for_a_bad_signature() {
    let (h, peer, alice) = with_alice(|_| {}).await; // key_refetch_after: 60 s
    assert_eq!(h.like(&peer, &alice).await, 202);
    peer.rotate_key("alice").await;
    for _ in 0..3 {
        let a = h.receive(&peer, &alice, &like(&peer, &alice)).await;
        assert_eq!((a.status, a.rc()), (401, "SignatureInvalid"));
    }
    assert_eq!(
        peer.fetch_count("/u/alice"),
        1,
        "bad signatures must not make us hammer the peer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_an_actor_that_is_gone_is_acknowledged_and_journaled() {
    let (h, peer, _) = with_alice(|_| {}).await;
    let bob = peer.add_person("bob").await;
    peer.gone("bob");

    let delete = json!({"id": activity_id(&peer, "delete"), "type": "Delete",
        "actor": bob, "object": bob, "to": ["https://www.w3.org/ns/activitystreams#Public"]});
    let a = h.receive(&peer, &bob, &delete).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("accepted")),
        "{}",
        a.body
    );

    // Anything else from a gone actor is refused, and so is a Delete of something else.
    let a = h.receive(&peer, &bob, &like(&peer, &bob)).await;
    assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);
    let other = json!({"id": activity_id(&peer, "delete"), "type": "Delete",
        "actor": bob, "object": peer.url("/post/1")});
    let a = h.receive(&peer, &bob, &other).await;
    assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);
    assert_eq!(h.journal().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_servers_in_trouble_get_503_so_the_sender_retries() {
    // Failures not remembered here: each request below must reach the key's server.
    let (h, peer, alice) = with_alice(|c| {
        c.deadline = Duration::from_millis(500);
        c.key_transient_failure_ttl = Duration::ZERO;
    })
    .await;
    let fail = |status: Option<u16>, delay: Option<Duration>| Behaviour { status, delay };

    // The key's server answers 502: worth retrying later.
    peer.set_route_behaviour("/u/alice", fail(Some(502), None));
    let a = h.receive(&peer, &alice, &like(&peer, &alice)).await;
    assert_eq!((a.status, a.rc()), (503, "KeyFetchFailed"), "{}", a.body);

    // The key's server is slower than our deadline: answered in time, with 503.
    peer.set_route_behaviour("/u/alice", fail(None, Some(Duration::from_secs(3))));
    let start = std::time::Instant::now();
    let a = h.receive(&peer, &alice, &like(&peer, &alice)).await;
    assert_eq!((a.status, a.rc()), (503, "DeadlineExceeded"), "{}", a.body);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the deadline bounds the answer"
    );

    // Back to normal: accepted.
    peer.clear_route_behaviour("/u/alice");
    assert_eq!(h.like(&peer, &alice).await, 202);
    assert_eq!(h.journal().await.len(), 1);
}
