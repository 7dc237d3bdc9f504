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

/// A community created after the inbox loaded its names (by the CLI, or another process).
async fn create_community(h: &crate::support::Harness, name: &str) {
    let kp = sluice_apub::keypair::generate().unwrap();
    let id = format!("{}/c/{name}", h.base);
    sluice_db::actors::create_local_community(
        &h.t.db,
        sluice_db::actors::NewLocalActor {
            domain: h.base.trim_start_matches("http://").to_string(),
            name: name.into(),
            title: None,
            inbox: format!("{id}/inbox"),
            shared_inbox: format!("{}/inbox", h.base),
            followers_url: None,
            moderators_url: None,
            featured_url: None,
            key_id: format!("{id}#main-key"),
            public_key_pem: kp.public_pem,
            private_key_pem: kp.private_pem,
            ap_id: id,
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_actor_costs_one_lookup_once_and_unknown_names_a_bounded_number() {
    let burst = 5;
    let (h, peer, alice) = with_alice(|c| {
        c.refresh_interval = Duration::from_secs(3600);
        c.actor_lookups_per_minute = 1;
        c.actor_lookup_burst = burst;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(h.like(&peer, &alice).await, 202);
    }
    create_community(&h, "Fresh").await;
    create_community(&h, "kilo").await;
    let fresh = h.url("/c/fresh/inbox");
    let deliver = |inbox: String| {
        let (peer, alice) = (&peer, &alice);
        async move {
            let d = peer
                .deliver(&inbox, alice, &like(peer, alice))
                .await
                .unwrap();
            (d.status, d.text)
        }
    };

    // The first request to it pays the lookup of its name (and the statement's prepare, the
    // first time a connection runs it), the next ones nothing more.
    let before = h.inbox_db.roundtrips();
    let (status, text) = deliver(fresh.clone()).await;
    assert_eq!(status, 202, "{text}");
    let trips = h.inbox_db.roundtrips() - before;
    assert!(
        trips <= 3,
        "the first acknowledgement cost {trips} round-trips"
    );
    for _ in 0..5 {
        let before = h.inbox_db.roundtrips();
        assert_eq!(deliver(h.url("/c/FRESH/inbox")).await.0, 202);
        let trips = h.inbox_db.roundtrips() - before;
        assert!(trips <= 1, "an acknowledgement cost {trips} round-trips");
    }

    // A flood of names nobody has: at most the bucket's worth of lookups (the burst left,
    // plus what one minute refills), then 503 InboxLookupBusy with Retry-After; a name found
    // absent is still a 404 from memory once the bucket is empty. Unsigned: the name is
    // checked before anything else.
    let hdrs = vec![("Content-Type", "application/activity+json".to_string())];
    let body = like(&peer, &alice).to_string().into_bytes();
    let before = h.inbox_db.roundtrips();
    let (mut not_found, mut busy) = (Vec::new(), 0);
    for i in 0..200 {
        let name = format!("n{i:x}{}", i * 7919);
        let a = h
            .post_raw(&format!("/c/{name}/inbox"), body.clone(), &hdrs)
            .await;
        match (a.status, a.rc()) {
            (404, "NotFound") => not_found.push(name),
            (503, "InboxLookupBusy") => {
                assert!(a.retry_after.is_some());
                busy += 1;
            }
            other => panic!("{other:?}: {}", a.body),
        }
    }
    // Each lookup is one round-trip, two on a connection that has not prepared it yet.
    let trips = h.inbox_db.roundtrips() - before;
    assert!(
        trips <= 2 * burst,
        "200 unknown names cost {trips} round-trips"
    );
    assert!(busy >= 190, "{busy} answered 503");
    assert!(!not_found.is_empty());
    for name in &not_found {
        let a = h
            .post_raw(&format!("/c/{name}/inbox"), body.clone(), &hdrs)
            .await;
        assert_eq!((a.status, a.rc()), (404, "NotFound"), "{name}");
    }
    // Names no local actor can have cost nothing, bucket or not.
    for path in [
        "/c/no-such/inbox",
        "/u/%00/inbox",
        "/c/é/inbox",
        // The Kelvin sign lower-cases to `k`: still not the name `kilo`.
        "/c/%E2%84%AAilo/inbox",
    ] {
        let a = h.post_raw(path, body.clone(), &hdrs).await;
        assert_eq!((a.status, a.rc()), (404, "NotFound"), "{path}");
    }
    let long = format!("/u/{}/inbox", "a".repeat(65));
    let a = h.post_raw(&long, body.clone(), &hdrs).await;
    assert_eq!((a.status, a.rc()), (404, "NotFound"));
    assert!(h.inbox_db.roundtrips() - before <= 2 * burst);
    // The new community is unaffected.
    assert_eq!(deliver(fresh).await.0, 202);
}
