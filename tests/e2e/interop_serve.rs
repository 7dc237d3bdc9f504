//! What a peer reads from sluice about its local actors, through the real binary: the inbox
//! of a community created a moment ago (in another process sharing the database), the
//! followers and moderators collections, and the activities sluice sent, at their ids.

use crate::federation::ENV;
use crate::support::{admin_ok, second_process, sluice_on_test_db};
use serde_json::{Value, json};
use sluice_testkit::http_client;
use sluice_testkit::lemmy::{Rows, docs};
use sluice_testkit::peer::TestPeer;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

async fn get(url: &str) -> (u16, Option<String>, Value) {
    let r = http_client()
        .get(url)
        .header("Accept", "application/activity+json")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, kind, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_to_a_community_created_a_moment_ago_is_accepted_and_served() {
    let (s1, t) = sluice_on_test_db(ENV).await;
    // A second process of the same instance. It never re-reads the local actor names by
    // polling during this test: a new community must be found without it.
    let mut env2 = ENV.to_vec();
    env2.push(("SLUICE_INBOX_REFRESH_MS", "3600000"));
    let s2 = second_process(&s1, &t, &env2).await;
    let rows = Rows::new(t.db.clone());
    let peer = TestPeer::start_on("127.0.0.31").await;
    let bob = peer.add_person("bob").await;
    let community = format!("{}/c/fresh", s1.base);
    let inbox = format!("{community}/inbox");

    // Asked for before it exists: 404 with an rc (and remembered as absent by s2).
    let early = docs::follow(&bob, &community);
    let d = peer
        .deliver_via(&inbox, &s2.base, &bob, &early)
        .await
        .unwrap();
    assert_eq!(d.status, 404, "{}", d.text);
    assert!(d.text.contains("\"rc\":\"NotFound\""), "{}", d.text);

    // Created through the CLI, followed at once through the other process.
    admin_ok(&s1, &["community", "create", "fresh"]);
    let follow = docs::follow(&bob, &community);
    let d = peer
        .deliver_via(&inbox, &s2.base, &bob, &follow)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);

    // Accepted: the community's signed Accept of that Follow reaches bob's server.
    let deadline = Instant::now() + LIMIT;
    let accept = loop {
        let got = peer.received().into_iter().find(|r| {
            r.activity_type.as_deref() == Some("Accept")
                && r.json
                    .as_ref()
                    .is_some_and(|j| j["object"]["id"] == follow["id"])
        });
        if let Some(r) = got {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no Accept: {:?}",
            peer.received()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(accept.is_authentic(), "{:?}", accept.verify_error);
    assert_eq!(accept.actor.as_deref(), Some(community.as_str()));
    let accept = accept.json.unwrap();

    // The followers collection counts the accepted follower, in both processes, in the
    // shape Lemmy reads.
    for base in [&s1.base, &s2.base] {
        let (status, kind, v) = get(&format!("{base}/c/fresh/followers")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(kind.as_deref(), Some("application/activity+json"));
        assert_eq!(v["type"], "Collection", "{v}");
        assert_eq!(v["id"], format!("{community}/followers"));
        assert_eq!(v["totalItems"], 1, "{v}");
        assert_eq!(v["items"], json!([]));
    }

    // The Accept, fetched at its id, is the activity bob's server received.
    let id = accept["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with(&format!("{}/activities/accept/", s1.base)),
        "{id}"
    );
    let (status, kind, fetched) = get(&id).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(kind.as_deref(), Some("application/activity+json"));
    assert_eq!(fetched, accept);
    let via_s2 = id.replace(&s1.base, &s2.base);
    assert_eq!(get(&via_s2).await.2, accept);

    // What a follower posts to the community is announced to its followers; the Announce,
    // fetched at its id, is what they received.
    let post = peer.url("/post/1");
    let create = docs::wrap("Create", &bob, docs::page(&post, &bob, &community));
    let d = peer
        .deliver_via(&inbox, &s2.base, &bob, &create)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    let deadline = Instant::now() + LIMIT;
    let announce = loop {
        let got = peer.received().into_iter().find(|r| {
            r.activity_type.as_deref() == Some("Announce")
                && r.json
                    .as_ref()
                    .is_some_and(|j| j["object"]["id"] == create["id"])
        });
        if let Some(r) = got {
            break r.json.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no Announce: {:?}",
            peer.received()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (status, _, fetched) = get(announce["id"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, announce);

    // Unknown ids, and an activity not addressed to the public, are 404 with an rc.
    rows.exec(format!(
        "INSERT INTO outbound_activity (activity_id, actor_ap_id, raw) VALUES \
         ('{base}/activities/create/private', '{base}/u/alice', \
          '{{\"id\": \"{base}/activities/create/private\", \"type\": \"Create\", \
            \"actor\": \"{base}/u/alice\", \"to\": [\"{bob}\"], \
            \"object\": {{\"type\": \"ChatMessage\", \"content\": \"secret\"}}}}')",
        base = s1.base
    ))
    .await;
    // A public activity with blind copies is served without them.
    rows.exec(format!(
        "INSERT INTO outbound_activity (activity_id, actor_ap_id, raw) VALUES \
         ('{base}/activities/create/blind', '{base}/u/alice', \
          '{{\"id\": \"{base}/activities/create/blind\", \"type\": \"Create\", \
            \"actor\": \"{base}/u/alice\", \"to\": [\"{public}\"], \
            \"bto\": [\"{bob}\"], \"bcc\": [\"{bob}\"], \
            \"object\": {{\"type\": \"Note\", \"content\": \"hi\"}}}}')",
        base = s1.base,
        public = sluice_apub::PUBLIC,
    ))
    .await;
    let (status, _, v) = get(&format!("{}/activities/create/blind", s1.base)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"]["content"], "hi", "{v}");
    assert!(v.get("bto").is_none() && v.get("bcc").is_none(), "{v}");

    for url in [
        format!("{}/activities/create/private", s1.base),
        format!("{}/activities/accept/unknown", s1.base),
        format!("{}/somewhere/else", s1.base),
        format!("{}/activities/{}", s1.base, "x".repeat(2000)),
    ] {
        let (status, _, v) = get(&url).await;
        assert_eq!(status, 404, "{url}: {v}");
        assert_eq!(v["rc"], "NotFound", "{url}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }

    // The moderators collection lists the community's moderators.
    admin_ok(&s1, &["user", "create", "carol"]);
    rows.exec(
        "INSERT INTO community_moderator (community_id, person_id) \
         SELECT c.id, p.id FROM community c, person p \
         WHERE c.local AND c.name = 'fresh' AND p.local AND p.name = 'carol'",
    )
    .await;
    let (status, _, v) = get(&format!("{}/c/fresh/moderators", s2.base)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["type"], "OrderedCollection", "{v}");
    assert_eq!(v["orderedItems"], json!([format!("{}/u/carol", s1.base)]));
    let (status, _, v) = get(&format!("{}/c/nosuch/moderators", s1.base)).await;
    assert_eq!((status, v["rc"].as_str()), (404, Some("NotFound")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_a_moment_ago_has_an_inbox_at_once() {
    let (s, _t) = sluice_on_test_db(&[("SLUICE_INBOX_REFRESH_MS", "3600000")]).await;
    let peer = TestPeer::start_on("127.0.0.32").await;
    let bob = peer.add_person("bob").await;
    admin_ok(&s, &["user", "create", "dora"]);
    let dora = format!("{}/u/dora", s.base);
    let like = docs::vote(&bob, &format!("{dora}/nothing"), 1);
    let d = peer
        .deliver(&format!("{dora}/inbox"), &bob, &like)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    // Names that are no local actor's, valid or not, are 404 with an rc.
    for name in ["nobody", "no-such_name", "x"] {
        let d = peer
            .deliver(&format!("{}/u/{name}/inbox", s.base), &bob, &like)
            .await
            .unwrap();
        assert_eq!(d.status, 404, "{name}: {}", d.text);
    }
}
