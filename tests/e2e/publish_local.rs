//! What a local user does through the publish API is applied here too, through the real
//! binary with `TestPeer`s: a Follow of a remote community is recorded pending, the peer's
//! signed Accept makes it accepted and the community's next Announce is stored; a Reject
//! removes it, an Accept naming the Follow by id only accepts it; the Undo removes it; a published vote counts as an incoming one does; and
//! publishing twice applies once.

use crate::federation::ENV;
use crate::queue::{TOKEN, publish};
use crate::support::{create_user, sluice_on_test_db};
use serde_json::{Value, json};
use sluice_testkit::Sluice;
use sluice_testkit::lemmy::{Rows, docs};
use sluice_testkit::peer::TestPeer;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn env() -> Vec<(&'static str, &'static str)> {
    let mut e = ENV.to_vec();
    e.push(("SLUICE_PUBLISH_TOKEN", TOKEN));
    e
}

/// Publishes `activity` as its actor to `inbox`.
async fn publish_to(s: &Sluice, activity: &Value, inbox: &str) -> (u16, Value) {
    let body = json!({
        "actor": activity["actor"],
        "activity": activity,
        "inboxes": [inbox],
    });
    publish(&s.base, Some(TOKEN), &body).await
}

/// Polls `sql` (one text column `v`) until it answers `want`.
async fn wait_text(rows: &Rows, s: &Sluice, sql: &str, want: Option<&str>) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let got = rows.text(sql).await;
        if got.as_deref() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {got:?}, wanted {want:?}\n{}",
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn follow_state(community: &str, person: &str) -> String {
    format!(
        "SELECT f.state AS v FROM community_follow f JOIN community c ON c.id = f.community_id \
         JOIN person p ON p.id = f.person_id WHERE c.ap_id = '{community}' AND p.ap_id = '{person}'"
    )
}

/// The peer received the activity `id`, signed by sluice and verified.
async fn wait_delivered(peer: &TestPeer, id: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let got = peer.received();
        if let Some(r) = got.iter().find(|r| r.activity_id.as_deref() == Some(id)) {
            assert!(r.verified, "{:?}", r.verify_error);
            return;
        }
        assert!(Instant::now() < deadline, "{id} never reached the peer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The community answers `follow` (Accept or Reject), signed, at sluice's shared inbox.
async fn answer(s: &Sluice, peer: &TestPeer, group: &str, kind: &str, follow: &Value) {
    let community = peer.actor_id(group);
    let a = json!({
        "id": peer.url(&format!("/activities/{}/{group}", kind.to_lowercase())),
        "type": kind,
        "actor": community,
        "object": follow,
    });
    let d = peer
        .deliver(&format!("{}/inbox", s.base), group, &a)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_follow_is_accepted_then_undone_and_a_published_vote_counts_once() {
    let (s, t) = sluice_on_test_db(&env()).await;
    let rows = Rows::new(t.db.clone());
    let alice = create_user(&s, "alice");
    let peer = TestPeer::start_on("127.0.0.121").await;
    let community = peer.add_group("news").await;
    let bob = peer.add_person("bob").await;

    // alice follows: sent to the community, recorded pending here.
    let follow = docs::follow(&alice, &community);
    let (st, v) = publish_to(&s, &follow, &peer.inbox_of("news")).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["applied"], json!(true), "{v}");
    let state = follow_state(&community, &alice);
    assert_eq!(rows.text(&state).await.as_deref(), Some("pending"));
    wait_delivered(&peer, follow["id"].as_str().unwrap()).await;

    // The community accepts; its next post arrives announced, and is kept.
    answer(&s, &peer, "news", "Accept", &follow).await;
    wait_text(&rows, &s, &state, Some("accepted")).await;
    let post = peer.url("/post/1");
    let create = docs::wrap("Create", &bob, docs::page(&post, &bob, &community));
    let announce = json!({
        "id": peer.url("/activities/announce/1"),
        "type": "Announce",
        "actor": community,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [format!("{community}/followers")],
        "object": create,
    });
    let d = peer
        .deliver(&format!("{}/inbox", s.base), "news", &announce)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    let stored = format!(
        "SELECT c.ap_id AS v FROM post p JOIN community c ON c.id = p.community_id \
         WHERE p.ap_id = '{post}'"
    );
    wait_text(&rows, &s, &stored, Some(&community)).await;

    // The same Follow again: a duplicate, which leaves the accepted follow alone.
    let (st, v) = publish_to(&s, &follow, &peer.inbox_of("news")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["duplicate"], json!(true), "{v}");
    assert_eq!(rows.text(&state).await.as_deref(), Some("accepted"));

    // alice's Like, published twice, counts once; bob's, received, counts as well.
    let score = format!(
        "SELECT score || ' ' || upvotes || ' ' || downvotes AS v FROM post WHERE ap_id = '{post}'"
    );
    let like = docs::vote(&alice, &post, 1);
    for want in [202, 200] {
        let (st, v) = publish_to(&s, &like, &peer.inbox_of("news")).await;
        assert_eq!(st, want, "{v}");
    }
    assert_eq!(rows.text(&score).await.as_deref(), Some("1 1 0"));
    let incoming = docs::vote(&bob, &post, 1);
    let d = peer
        .deliver(&format!("{}/inbox", s.base), "bob", &incoming)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    wait_text(&rows, &s, &score, Some("2 2 0")).await;
    // Her Undo takes hers back, as bob's would take his.
    let (st, v) = publish_to(&s, &docs::undo(&like), &peer.inbox_of("news")).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(rows.text(&score).await.as_deref(), Some("1 1 0"));
    let votes = format!(
        "SELECT string_agg(pe.ap_id, ' ') AS v FROM vote v JOIN person pe ON pe.id = v.person_id \
         JOIN post p ON p.id = v.post_id WHERE p.ap_id = '{post}'"
    );
    assert_eq!(rows.text(&votes).await.as_deref(), Some(bob.as_str()));

    // Her Undo of the Follow removes it.
    let (st, v) = publish_to(&s, &docs::undo(&follow), &peer.inbox_of("news")).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(rows.text(&state).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_follow_is_removed_one_accepted_by_id_is_kept_and_a_follow_of_a_person_is_refused()
 {
    let (s, t) = sluice_on_test_db(&env()).await;
    let rows = Rows::new(t.db.clone());
    let alice = create_user(&s, "alice");
    let peer = TestPeer::start_on("127.0.0.122").await;
    let community = peer.add_group("closed").await;
    let carol = peer.add_person("carol").await;

    // A community fetched on the spot (never seen before), followed, rejected.
    let follow = docs::follow(&alice, &community);
    let (st, v) = publish_to(&s, &follow, &peer.inbox_of("closed")).await;
    assert_eq!(st, 202, "{v}");
    let state = follow_state(&community, &alice);
    assert_eq!(rows.text(&state).await.as_deref(), Some("pending"));
    answer(&s, &peer, "closed", "Reject", &follow).await;
    wait_text(&rows, &s, &state, None).await;

    // Some servers (Mastodon) answer naming the Follow by its id only.
    let lounge = peer.add_group("lounge").await;
    let by_id = docs::follow(&alice, &lounge);
    let (st, v) = publish_to(&s, &by_id, &peer.inbox_of("lounge")).await;
    assert_eq!(st, 202, "{v}");
    answer(&s, &peer, "lounge", "Accept", &by_id["id"]).await;
    wait_text(&rows, &s, &follow_state(&lounge, &alice), Some("accepted")).await;

    // Following a person is not something sluice can record: refused, and not sent.
    let person = docs::follow(&alice, &carol);
    let (st, v) = publish_to(&s, &person, &peer.inbox_of("carol")).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["rc"], json!("LocalEffectRefused"), "{v}");
    let sent = format!(
        "SELECT count(*)::text AS v FROM outbound_activity WHERE activity_id = '{}'",
        person["id"].as_str().unwrap()
    );
    assert_eq!(rows.text(&sent).await.as_deref(), Some("0"));
}
