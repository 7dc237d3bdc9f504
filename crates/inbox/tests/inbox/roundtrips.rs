//! The request path's database cost, counted on the wire: at most one round-trip per
//! acknowledgement with the key in memory, and one shared insert for concurrent senders.

use crate::support::{like, raw_actor, with_alice};
use std::time::{Duration, SystemTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_key_cached_an_ack_costs_at_most_one_roundtrip() {
    // No background probe during the measurement.
    let (h, peer, alice) = with_alice(|c| c.refresh_interval = Duration::from_secs(3600)).await;
    // Warm up: the key is fetched and cached, the insert statement prepared.
    for _ in 0..3 {
        assert_eq!(h.like(&peer, &alice).await, 202);
    }
    let fetches = peer.fetch_count("/u/alice");
    let n = 20;
    for _ in 0..n {
        let before = h.inbox_db.roundtrips();
        assert_eq!(h.like(&peer, &alice).await, 202);
        let trips = h.inbox_db.roundtrips() - before;
        assert!(trips <= 1, "an acknowledgement cost {trips} round-trips");
    }
    assert_eq!(
        peer.fetch_count("/u/alice"),
        fetches,
        "the key came from memory"
    );
    assert_eq!(h.journal().await.len(), 3 + n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_share_the_journal_insert() {
    // A 20 ms window makes the coalescing deterministic; the default (0) coalesces only
    // while inserts are in flight, which depends on timing.
    let (h, peer, _) = with_alice(|c| {
        c.refresh_interval = Duration::from_secs(3600);
        c.journal_linger = Duration::from_millis(20);
    })
    .await;
    let raw = raw_actor(&peer, "raw");
    let first = like(&peer, &raw.id).to_string();
    assert_eq!(
        h.deliver_raw(&raw, "/inbox", first.as_bytes()).await.status,
        202
    );

    let senders = 32;
    let stats_before = h.inbox.journal_stats();
    let trips_before = h.inbox_db.roundtrips();
    // Signed first, so the 32 requests leave together.
    let signed: Vec<_> = (0..senders)
        .map(|_| {
            let b = like(&peer, &raw.id).to_string().into_bytes();
            let hdrs = h.signed_headers(&raw.signer, "/inbox", &b, SystemTime::now());
            (b, hdrs)
        })
        .collect();
    let answers = futures::future::join_all(
        signed
            .iter()
            .map(|(b, hdrs)| h.post_raw("/inbox", b.clone(), hdrs)),
    )
    .await;
    for a in &answers {
        assert_eq!(a.status, 202, "{}", a.body);
        assert_eq!(a.body["status"], "accepted");
    }
    let stats = h.inbox.journal_stats();
    let inserts = stats.inserts - stats_before.inserts;
    let activities = stats.activities - stats_before.activities;
    assert_eq!(activities, senders);
    assert!(
        inserts < senders,
        "{senders} activities took {inserts} inserts"
    );
    let trips = h.inbox_db.roundtrips() - trips_before;
    // Each insert is one round-trip, plus at most one prepare per connection newly used.
    assert!(
        trips < senders,
        "{senders} acknowledgements cost {trips} round-trips"
    );
    assert_eq!(h.journal().await.len(), 1 + senders as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_leaves_one_row_and_says_duplicate() {
    let (h, peer, alice) = with_alice(|_| {}).await;
    let activity = like(&peer, &alice);
    let first = h.receive(&peer, &alice, &activity).await;
    assert_eq!(
        (first.status, first.body["status"].as_str()),
        (202, Some("accepted"))
    );
    // Re-delivered (a sender retrying after a lost answer).
    let again = h.receive(&peer, &alice, &activity).await;
    assert_eq!(
        (again.status, again.body["status"].as_str()),
        (202, Some("duplicate"))
    );
    // Twice at once: the same batch or two; either way one row.
    let twins = futures::future::join(
        h.receive(&peer, &alice, &activity),
        h.receive(&peer, &alice, &activity),
    )
    .await;
    assert_eq!(twins.0.body["status"], "duplicate");
    assert_eq!(twins.1.body["status"], "duplicate");
    assert_eq!(h.journal().await.len(), 1);
}
