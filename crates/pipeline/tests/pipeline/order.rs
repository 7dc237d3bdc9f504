//! Order and idempotency: several activities about one object in one batch end as they
//! would one by one; a re-delivered batch changes nothing; an Undo that arrives before what
//! it undoes still wins; a Delete is final; an older Update loses.

use crate::support;

use serde_json::json;
use support::{Harness, settings};
use support::{World, docs};

const R: &str = "http://r.example/c/main";
const A: &str = "http://r.example/u/a";
const B: &str = "http://r.example/u/b";
const P: &str = "http://r.example/post/1";

async fn harness() -> Harness {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    h.peer.serve(docs::person(A));
    h.peer.serve(docs::person(B));
    h
}

fn post(name: &str, updated: Option<&str>) -> serde_json::Value {
    let mut p = docs::page(P, A, R);
    p["name"] = json!(name);
    if let Some(u) = updated {
        p["updated"] = json!(u);
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_delete_in_one_batch_end_as_one_by_one() {
    let mut h = harness().await;
    let acts = [
        docs::wrap("Create", A, post("first", None)),
        docs::wrap("Update", A, post("second", Some("2030-01-01T00:00:00Z"))),
        docs::vote(B, P, 1),
        docs::delete(A, P),
        docs::vote(A, P, 1),
    ];
    let mut ids = Vec::new();
    for a in &acts {
        ids.push(h.deliver(a).await);
    }
    let r = h.run().await;
    assert_eq!((r.claimed, r.done, r.ignored), (5, 4, 1), "{r:?}");
    assert_eq!(
        h.text(&format!(
            "SELECT name || '|' || deleted || '|' || score AS v FROM post WHERE ap_id = '{P}'"
        ))
        .await
        .as_deref(),
        Some("second|true|1")
    );
    let late_vote = h.row(ids[4]).await;
    assert_eq!(late_vote.error_code.as_deref(), Some("ObjectDeleted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_delivered_twice_changes_nothing() {
    let mut h = harness().await;
    let local = h.local_community("local").await;
    let c = "http://r.example/comment/1";
    let acts = [
        docs::wrap("Create", A, post("first", None)),
        docs::wrap("Create", B, docs::note(c, B, P, R)),
        docs::vote(B, P, 1),
        docs::vote(A, c, -1),
        docs::follow(B, &local),
        docs::wrap("Update", A, post("second", Some("2030-01-01T00:00:00Z"))),
        docs::wrap(
            "Create",
            A,
            docs::page("http://r.example/post/2", A, &local),
        ),
    ];
    for a in &acts {
        h.deliver(a).await;
    }
    assert_eq!(h.run().await.done, 7);
    let snapshot = "SELECT (SELECT string_agg(ap_id || name || score || upvotes || downvotes || deleted || coalesce(updated::text, ''), ',' ORDER BY ap_id) FROM post) \
        || '#' || (SELECT string_agg(ap_id || content || score, ',' ORDER BY ap_id) FROM comment) \
        || '#' || (SELECT count(*) FROM vote) || '#' || (SELECT count(*) FROM community_follow) \
        || '#' || (SELECT count(*) FROM outbound_activity) || '#' || (SELECT count(*) FROM person) AS v";
    let before = h.text(snapshot).await;
    assert!(before.is_some());

    // Replayed (as if re-delivered through another path): every row is processed again.
    // The Create of the post is now older than its stored Update and loses; the rest are
    // re-deliveries of what is stored.
    h.exec("UPDATE received_activity SET state = 'pending', processed_at = NULL".into())
        .await;
    let again = h.run().await;
    assert_eq!(
        (again.claimed, again.done, again.ignored),
        (7, 6, 1),
        "{again:?}"
    );
    assert_eq!(
        h.text("SELECT error_code AS v FROM received_activity WHERE state = 'ignored'")
            .await
            .as_deref(),
        Some("StaleUpdate")
    );
    assert_eq!(h.text(snapshot).await, before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_that_arrives_first_wins() {
    let mut h = harness().await;
    let local = h.local_community("local").await;
    h.done(&docs::wrap("Create", A, post("p", None))).await;

    // The Like is in the journal first but not yet due (a retry, say); its Undo runs first.
    let like = docs::vote(B, P, 1);
    let like_row = h.deliver(&like).await;
    h.exec(format!(
        "UPDATE received_activity SET next_attempt_at = now() + interval '1 hour' WHERE id = {like_row}"
    ))
    .await;
    h.ignored(&docs::undo(&like), "NothingToUndo").await;
    h.exec(format!(
        "UPDATE received_activity SET next_attempt_at = now() WHERE id = {like_row}"
    ))
    .await;
    assert_eq!(h.run().await.ignored, 1);
    assert_eq!(
        h.row(like_row).await.error_code.as_deref(),
        Some("Superseded")
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 0);
    // A Like sent after the Undo (the user voted again) counts.
    h.done(&docs::vote(B, P, 1)).await;
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 1);

    // The same for follows: no follow, no Accept.
    let follow = docs::follow(B, &local);
    let follow_row = h.deliver(&follow).await;
    h.exec(format!(
        "UPDATE received_activity SET next_attempt_at = now() + interval '1 hour' WHERE id = {follow_row}"
    ))
    .await;
    h.ignored(&docs::undo(&follow), "NothingToUndo").await;
    h.exec(format!(
        "UPDATE received_activity SET next_attempt_at = now() WHERE id = {follow_row}"
    ))
    .await;
    h.run().await;
    assert_eq!(
        h.row(follow_row).await.error_code.as_deref(),
        Some("Superseded")
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM community_follow WHERE person_id IN (SELECT id FROM person WHERE NOT local)").await, 0);
    assert_eq!(
        h.count("SELECT count(*) AS v FROM outbound_activity").await,
        0
    );

    // A Delete that arrives before its Create: remembered; the Create does not revive it.
    let p2 = "http://r.example/post/2";
    h.ignored(&docs::delete(A, p2), "UnknownObject").await;
    h.ignored(
        &docs::wrap("Create", A, docs::page(p2, A, R)),
        "ObjectDeleted",
    )
    .await;
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) AS v FROM post WHERE ap_id = '{p2}'"
        ))
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_revives_a_deleted_object() {
    let mut h = harness().await;
    h.done(&docs::wrap("Create", A, post("p", None))).await;
    h.done(&docs::delete(A, P)).await;
    // A vote after the Delete, and an Update.
    h.ignored(&docs::vote(B, P, 1), "ObjectDeleted").await;
    h.ignored(
        &docs::wrap("Update", A, post("again", Some("2031-01-01T00:00:00Z"))),
        "ObjectDeleted",
    )
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT name || score || deleted AS v FROM post WHERE ap_id = '{P}'"
        ))
        .await
        .as_deref(),
        Some("p0true")
    );
    // A vote on an unknown object its server says is gone: not fetched into existence.
    let gone = "http://r.example/post/gone";
    h.peer.gone(gone);
    h.ignored(&docs::vote(B, gone, 1), "ObjectDeleted").await;
    assert_eq!(h.count("SELECT count(*) AS v FROM post").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_update_loses() {
    let mut h = harness().await;
    h.done(&docs::wrap("Create", A, post("v1", None))).await;
    h.done(&docs::wrap(
        "Update",
        A,
        post("v3", Some("2030-03-01T00:00:00Z")),
    ))
    .await;
    h.ignored(
        &docs::wrap("Update", A, post("v2", Some("2030-02-01T00:00:00Z"))),
        "StaleUpdate",
    )
    .await;
    assert_eq!(
        h.text(&format!("SELECT name AS v FROM post WHERE ap_id = '{P}'"))
            .await
            .as_deref(),
        Some("v3")
    );
}

fn announce(community: &str, inner: serde_json::Value) -> serde_json::Value {
    json!({
        "id": format!("{community}/activities/announce/{:x}", rand::random::<u64>()),
        "type": "Announce",
        "actor": community,
        "to": [sluice_apub::PUBLIC],
        "cc": [format!("{community}/followers")],
        "object": inner,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_content_is_kept_only_when_someone_here_follows() {
    let mut h = harness().await;
    let other = "http://o.example/c/other";
    h.remote_community(other, None).await;
    h.peer.serve(docs::person("http://o.example/u/x"));
    let p = docs::page("http://o.example/post/1", "http://o.example/u/x", other);
    let create = docs::wrap("Create", "http://o.example/u/x", p);
    let hits = h.peer.hits().len();
    h.ignored(&announce(other, create.clone()), "NoLocalFollower")
        .await;
    assert_eq!(h.peer.hits().len(), hits, "nothing fetched for it");

    // With the setting, everything is kept.
    let mut s = settings();
    s.keep_all_announced = true;
    h.processor = h.processor("keep-all");
    let mut h2 = Harness::with("sluice.test", s).await;
    h2.remote_community(other, None).await;
    h2.peer.serve(docs::person("http://o.example/u/x"));
    h2.done(&announce(other, create)).await;
    assert_eq!(h2.count("SELECT count(*) AS v FROM post").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_activity_from_another_host_is_fetched_from_its_origin() {
    let mut h = harness().await;
    h.done(&docs::wrap("Create", A, post("p", None))).await;
    // An inner activity whose id is not on its actor's host: not trusted as embedded.
    let mut like = docs::vote(B, P, 1);
    like["id"] = json!("http://elsewhere.example/activities/like/1");
    h.step(&announce(R, like.clone())).await;
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 0);
    assert!(
        h.peer
            .hits()
            .contains(&"http://elsewhere.example/activities/like/1".to_string())
    );
    // Its origin serves it (with the actor on the origin's host: still refused).
    h.peer.serve(like.clone());
    let row = h.step(&announce(R, like)).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref()),
        ("failed", Some("HostMismatch"))
    );
    // An embedded activity on its actor's host is applied as relayed by the community.
    h.done(&announce(R, docs::vote(B, P, 1))).await;
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 1);
    // Content of another community, announced by this one: refused.
    let other = "http://o.example/c/other";
    let alice = "http://sluice.test/u/alice";
    h.remote_community(other, Some(alice)).await;
    let p = docs::page("http://r.example/post/9", A, other);
    h.ignored(
        &announce(R, docs::wrap("Create", A, p)),
        "CommunityMismatch",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_moderators_remove() {
    let mut h = harness().await;
    h.done(&docs::wrap("Create", A, post("p", None))).await;
    // A user of another instance, not in the moderators collection.
    let x = "http://x.example/u/x";
    h.peer.serve(docs::person(x));
    h.peer.serve(
        json!({"type": "OrderedCollection", "id": format!("{R}/moderators"), "orderedItems": [B]}),
    );
    let mut removal = docs::delete(x, P);
    removal["summary"] = json!("spam");
    h.ignored(&removal, "NotPermitted").await;
    assert!(
        !h.flag(&format!(
            "SELECT removed AS v FROM post WHERE ap_id = '{P}'"
        ))
        .await
    );
    // Someone else's plain Delete is a removal attempt too.
    h.ignored(&docs::delete(x, P), "NotPermitted").await;
    // A listed moderator may.
    let mut removal = docs::delete(B, P);
    removal["summary"] = json!("spam");
    h.done(&removal).await;
    assert!(
        h.flag(&format!(
            "SELECT removed AS v FROM post WHERE ap_id = '{P}'"
        ))
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_updates_change_profiles_not_keys_and_older_ones_lose() {
    let mut h = harness().await;
    // A is fetched (with its key) for its first post.
    h.done(&docs::wrap("Create", A, post("p", None))).await;
    let key = format!("SELECT public_key_pem AS v FROM remote_key WHERE key_id = '{A}#main-key'");
    let first = h.text(&key).await.unwrap();
    let mut me = docs::person(A);
    me["name"] = json!("A, renamed");
    me["updated"] = json!("2030-01-01T00:00:00Z");
    me["publicKey"]["publicKeyPem"] =
        json!("-----BEGIN PUBLIC KEY-----\nROTATED\n-----END PUBLIC KEY-----\n");
    h.done(&docs::wrap("Update", A, me.clone())).await;
    // Keys come only from the owner's own document, fetched (the receiver refetches it
    // when a signature fails: rotation); never from an activity.
    assert_eq!(h.text(&key).await.unwrap(), first);
    assert_eq!(
        h.text(&format!(
            "SELECT display_name AS v FROM person WHERE ap_id = '{A}'"
        ))
        .await
        .as_deref(),
        Some("A, renamed")
    );
    // An older profile loses; someone else's Update of A's profile is refused.
    me["updated"] = json!("2029-01-01T00:00:00Z");
    me["name"] = json!("old");
    h.ignored(&docs::wrap("Update", A, me.clone()), "StaleUpdate")
        .await;
    h.ignored(&docs::wrap("Update", B, me), "NotPermitted")
        .await;
    // A deleted account posts no more.
    h.done(&docs::delete(A, A)).await;
    h.ignored(
        &docs::wrap("Create", A, docs::page("http://r.example/post/new", A, R)),
        "NotPermitted",
    )
    .await;
}
