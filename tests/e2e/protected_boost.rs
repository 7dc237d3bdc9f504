//! Protected boosts through the real binary: an origin in allow-list mode (a TestPeer
//! publishing Lemmy's `GET /api/v3/federated_instances` with one allowed instance) posts to
//! a local community followed from three instances; the community's Announce reaches the
//! origin and the instance it allows, and not the other follower instance, whose inbox
//! gets what an open origin's member posts next; while the origin's list cannot be read,
//! the last one read stays in force.

use crate::federation::ENV;
use crate::support::sluice_on_test_db;
use serde_json::{Value, json};
use sluice_testkit::Sluice;
use sluice_testkit::lemmy::{Rows, docs};
use sluice_testkit::peer::{Behaviour, TestPeer};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// Waits until `peer` received an Announce embedding the activity `inner`.
async fn announced(peer: &TestPeer, inner: &Value, s: &Sluice) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let got = peer.received().into_iter().find(|r| {
            r.activity_type.as_deref() == Some("Announce")
                && r.json
                    .as_ref()
                    .is_some_and(|j| j["object"]["id"] == inner["id"])
        });
        if let Some(r) = got {
            assert!(r.is_authentic(), "{:?}", r.verify_error);
            return r.json.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{} got no Announce of {}: {:?}\n{}",
            peer.domain(),
            inner["id"],
            peer.received(),
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `sql` (`SELECT .. AS v`) counts `want`.
async fn wait_count(rows: &Rows, sql: &str, want: i64, s: &Sluice) {
    let deadline = Instant::now() + LIMIT;
    while rows.count(sql).await != want {
        assert!(
            Instant::now() < deadline,
            "never {want}: {sql}\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_list_origin_is_relayed_only_to_the_instances_it_allows() {
    let mut env = ENV.to_vec();
    env.push(("SLUICE_ORIGIN_LISTS_REFRESH_MINUTES", "0.01"));
    let (s, t) = sluice_on_test_db(&env).await;
    let rows = Rows::new(t.db.clone());
    let out = s.admin(&["community", "create", "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let community = format!("{}/c/main", s.base);
    let inbox = format!("{community}/inbox");

    let origin = TestPeer::start_on("127.0.0.41").await;
    let allowed = TestPeer::start_on("127.0.0.42").await;
    let other = TestPeer::start_on("127.0.0.43").await;
    // The origin runs in allow-list mode and says so, as Lemmy does.
    origin.serve_json(
        "/api/v3/federated_instances",
        json!({"federated_instances": {
            "linked": [{"id": 1, "domain": other.domain()}],
            "allowed": [{"id": 2, "domain": allowed.domain(), "published": "2026-01-01T00:00:00Z"}],
            "blocked": []
        }}),
    );
    // `other` publishes no list (the API answers 404): an open origin.

    let mut members = Vec::new();
    for (peer, name) in [(&origin, "ann"), (&allowed, "ben"), (&other, "cid")] {
        let actor = peer.add_person(name).await;
        let d = peer
            .deliver(&inbox, &actor, &docs::follow(&actor, &community))
            .await
            .unwrap();
        assert_eq!(d.status, 202, "{}", d.text);
        members.push(actor);
    }
    wait_count(
        &rows,
        "SELECT count(*) AS v FROM community_follow WHERE state = 'accepted'",
        3,
        &s,
    )
    .await;
    // The reader learned the origin's list (off the hot path) and that `other` has none.
    wait_count(
        &rows,
        &format!(
            "SELECT count(*) AS v FROM origin_federation \
             WHERE fetched_at IS NOT NULL AND allowlist = (origin = '{}')",
            origin.domain()
        ),
        3,
        &s,
    )
    .await;

    // The origin's member posts; the community relays it.
    let create = docs::wrap(
        "Create",
        &members[0],
        docs::page(&origin.url("/post/1"), &members[0], &community),
    );
    let d = origin.deliver(&inbox, &members[0], &create).await.unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    let announce = announced(&allowed, &create, &s).await;
    announced(&origin, &create, &s).await;
    // Resolved at append time: no target row for the instance the origin does not allow.
    let mut want = vec![origin.domain().to_string(), allowed.domain().to_string()];
    want.sort();
    assert_eq!(targets_of(&rows, &announce).await, want);

    // The open instance's member posts next: relayed to everyone, `other` included. Its
    // deliveries are in order, so once it has this one, it would have had the first.
    let create2 = docs::wrap(
        "Create",
        &members[2],
        docs::page(&other.url("/post/2"), &members[2], &community),
    );
    let d = other.deliver(&inbox, &members[2], &create2).await.unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    announced(&other, &create2, &s).await;
    announced(&allowed, &create2, &s).await;
    let leaked = other.received().into_iter().any(|r| {
        r.json
            .as_ref()
            .is_some_and(|j| j["object"]["id"] == create["id"])
    });
    assert!(
        !leaked,
        "the protected post reached an instance its origin does not allow"
    );

    // The origin's list cannot be read for a while: the last list read stays in force.
    origin.set_route_behaviour(
        "/api/v3/federated_instances",
        Behaviour {
            status: Some(503),
            delay: None,
        },
    );
    wait_count(
        &rows,
        &format!(
            "SELECT count(*) AS v FROM origin_federation \
             WHERE origin = '{}' AND failures > 0 AND allowlist AND last_error LIKE '%503%'",
            origin.domain()
        ),
        1,
        &s,
    )
    .await;
    let create3 = docs::wrap(
        "Create",
        &members[0],
        docs::page(&origin.url("/post/3"), &members[0], &community),
    );
    let d = origin.deliver(&inbox, &members[0], &create3).await.unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    let announce3 = announced(&allowed, &create3, &s).await;
    assert_eq!(targets_of(&rows, &announce3).await, want);
}

/// The instances an outbound activity was given targets for, by domain.
async fn targets_of(rows: &Rows, activity: &Value) -> Vec<String> {
    rows.texts(&format!(
        "SELECT i.domain AS v FROM outbound_target t \
         JOIN outbound_activity a ON a.id = t.outbound_id \
         JOIN instance i ON i.id = t.instance_id \
         WHERE a.activity_id = '{}' ORDER BY i.domain",
        activity["id"].as_str().unwrap()
    ))
    .await
}
