//! Every Lemmy fixture activity, inserted into the journal as the receiver would, ends in
//! the rows it stands for. Missing actors and objects are fetched from a test peer.
//!
//! Four instances' points of view, because the fixtures play between several: a third
//! instance following enterprise's community (most of them), enterprise itself (follows of
//! its community), ds9 (the answer to its follow, private messages to its user) and voyager
//! (Lemmy 0.19's ChatMessage).

mod support;

use serde_json::json;
use support::Harness;
use support::docs::{self, activity};

const ALPHA: &str = "http://ds9.lemmy.ml/u/lemmy_alpha";
const BETA: &str = "http://enterprise.lemmy.ml/u/lemmy_beta";
const MAIN: &str = "http://enterprise.lemmy.ml/c/main";
const DS9_MAIN: &str = "http://ds9.lemmy.ml/c/main";
const POST1: &str = "http://ds9.lemmy.ml/post/1";
const COMMENT1: &str = "http://ds9.lemmy.ml/comment/1";

fn serve_actors(h: &Harness) {
    for p in [
        ALPHA,
        BETA,
        "http://ds9.lemmy.ml/u/lemmy_user",
        "http://lemmy-alpha:8541/u/lemmy_alpha",
        "http://lemmy-alpha/u/lemmy_aplha",
    ] {
        h.peer.serve(docs::person(p));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_seen_from_a_third_instance() {
    let mut h = Harness::new("sluice.test").await;
    serve_actors(&h);
    let alice = h.local_person("alice").await;
    h.remote_community(MAIN, Some(&alice)).await;
    h.remote_community(DS9_MAIN, Some(&alice)).await;

    // A post in a followed remote community: author fetched, fields stored.
    h.done(&activity("create_or_update/create_page.json")).await;
    assert_eq!(
        h.text(&format!(
            "SELECT p.name || '|' || p.url || '|' || p.body || '|' || p.source || '|' || p.language \
             || '|' || c.ap_id || '|' || pe.ap_id AS v FROM post p JOIN community c ON c.id = p.community_id \
             JOIN person pe ON pe.id = p.creator_id WHERE p.ap_id = '{POST1}'"
        ))
        .await
        .as_deref(),
        Some(
            "test post|https://lemmy.ml/pictrs/image/xl8W7FZfk9.jpg|<p>test body</p>\n|test body|ko|\
             http://enterprise.lemmy.ml/c/main|http://ds9.lemmy.ml/u/lemmy_alpha"
        )
    );
    assert!(
        h.peer.hits().contains(&ALPHA.to_string()),
        "the unknown author was fetched"
    );

    // A comment hangs under its post.
    h.done(&activity("create_or_update/create_comment.json"))
        .await;
    assert_eq!(
        h.text(&format!(
            "SELECT p.ap_id || '|' || coalesce(cm.parent_id::text, 'top') || '|' || cm.content AS v \
             FROM comment cm JOIN post p ON p.id = cm.post_id WHERE cm.ap_id = '{COMMENT1}'"
        ))
        .await
        .as_deref(),
        Some("http://ds9.lemmy.ml/post/1|top|hello")
    );

    // An Update with a newer version replaces the title.
    h.done(&activity("create_or_update/update_page.json")).await;
    assert_eq!(
        h.text(&format!(
            "SELECT name || '|' || (updated IS NOT NULL) AS v FROM post WHERE ap_id = '{POST1}'"
        ))
        .await
        .as_deref(),
        Some("test post 1|true")
    );

    // Votes change scores; their Undos (Lemmy wraps a fresh Like) take them back.
    let score = |id: &str| {
        format!(
            "SELECT (score || '/' || upvotes || '/' || downvotes) AS v FROM post WHERE ap_id = '{id}' UNION ALL SELECT (score || '/' || upvotes || '/' || downvotes) FROM comment WHERE ap_id = '{id}'"
        )
    };
    h.done(&activity("voting/like_note.json")).await;
    assert_eq!(h.text(&score(COMMENT1)).await.as_deref(), Some("1/1/0"));
    h.done(&activity("voting/dislike_page.json")).await;
    assert_eq!(h.text(&score(POST1)).await.as_deref(), Some("-1/0/1"));
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 2);
    h.done(&activity("voting/undo_dislike_page.json")).await;
    assert_eq!(h.text(&score(POST1)).await.as_deref(), Some("0/0/0"));
    h.done(&activity("voting/undo_like_note.json")).await;
    assert_eq!(h.text(&score(COMMENT1)).await.as_deref(), Some("0/0/0"));
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 0);

    // A moderator's removal (Delete with a summary) and its Undo; both in the mod log.
    h.done(&activity("deletion/remove_note.json")).await;
    let removed = format!("SELECT removed AS v FROM comment WHERE ap_id = '{COMMENT1}'");
    assert!(h.flag(&removed).await);
    assert_eq!(
        h.text("SELECT kind || '|' || reason AS v FROM mod_action WHERE kind = 'remove_comment'")
            .await
            .as_deref(),
        Some("remove_comment|bad comment")
    );
    h.done(&activity("deletion/undo_remove_note.json")).await;
    assert!(!h.flag(&removed).await);
    assert_eq!(
        h.count("SELECT count(*) AS v FROM mod_action WHERE kind = 'restore_comment'")
            .await,
        1
    );

    // The author's Delete tombstones the post; Undo(Delete) restores it.
    let deleted = format!("SELECT deleted AS v FROM post WHERE ap_id = '{POST1}'");
    h.done(&activity("deletion/delete_page.json")).await;
    assert!(h.flag(&deleted).await);
    h.done(&activity("deletion/undo_delete_page.json")).await;
    assert!(!h.flag(&deleted).await);

    // Moderators: enterprise's user adds ds9's (allowed: same instance as the community),
    // who may then update the community; then removes them again.
    h.done(&activity("community/add_mod.json")).await;
    let is_mod = format!(
        "SELECT EXISTS (SELECT 1 FROM community_moderator m JOIN community c ON c.id = m.community_id \
         JOIN person p ON p.id = m.person_id WHERE c.ap_id = '{MAIN}' AND p.ap_id = '{ALPHA}') AS v"
    );
    assert!(h.flag(&is_mod).await);
    h.done(&activity("community/update_community.json")).await;
    assert_eq!(
        h.text(&format!(
            "SELECT title AS v FROM community WHERE ap_id = '{MAIN}'"
        ))
        .await
        .as_deref(),
        Some("The Updated Community")
    );
    h.done(&activity("community/remove_mod.json")).await;
    assert!(!h.flag(&is_mod).await);

    // A report of a post not known here yet, to its community; resolved by a ds9 user whom
    // the community's moderators collection lists (fetched to decide).
    h.peer.serve(json!({
        "type": "OrderedCollection", "id": format!("{MAIN}/moderators"),
        "orderedItems": [BETA, "http://ds9.lemmy.ml/u/lemmy_user"],
    }));
    h.done(&activity("community/report_page.json")).await;
    let report = "SELECT (r.object_ap_id || '|' || c.ap_id || '|' || r.reason || '|' || r.resolved) AS v \
                  FROM report r JOIN community c ON c.id = r.community_id";
    assert_eq!(
        h.text(report).await.as_deref(),
        Some(
            "http://enterprise.lemmy.ml/post/7|http://enterprise.lemmy.ml/c/main|report this post|false"
        )
    );
    h.done(&activity("community/resolve_report_page.json"))
        .await;
    assert!(h.text(report).await.unwrap().ends_with("|true"));

    // The community announces a post: kept, because alice follows the community.
    h.done(&activity("community/announce_create_page.json"))
        .await;
    assert_eq!(
        h.text("SELECT name AS v FROM post WHERE ap_id = 'http://enterprise.lemmy.ml/post/7'")
            .await
            .as_deref(),
        Some("post 4")
    );

    // Featured posts of ds9's community (the post is created first).
    let post2 = "http://ds9.lemmy.ml/post/2";
    h.done(&docs::wrap(
        "Create",
        ALPHA,
        docs::page(post2, ALPHA, DS9_MAIN),
    ))
    .await;
    let featured = format!("SELECT featured AS v FROM post WHERE ap_id = '{post2}'");
    h.done(&activity("community/add_featured_post.json")).await;
    assert!(h.flag(&featured).await);
    // The fixture reuses the Add's id; a receiver would drop it as a duplicate.
    let mut unfeature = activity("community/remove_featured_post.json");
    unfeature["id"] = json!("https://ds9.lemmy.ml/activities/remove/1");
    h.done(&unfeature).await;
    assert!(!h.flag(&featured).await);

    // Locks, of a post and of a comment, on lemmy-alpha (content created first).
    let (a8541, c8541, p8541) = (
        "http://lemmy-alpha:8541/u/lemmy_alpha",
        "http://lemmy-alpha:8541/c/main",
        "http://lemmy-alpha:8541/post/2",
    );
    h.remote_community(c8541, Some(&alice)).await;
    h.done(&docs::wrap(
        "Create",
        a8541,
        docs::page(p8541, a8541, c8541),
    ))
    .await;
    let locked = format!("SELECT locked AS v FROM post WHERE ap_id = '{p8541}'");
    h.done(&activity("community/lock_page.json")).await;
    assert!(h.flag(&locked).await);
    h.done(&activity("community/undo_lock_page.json")).await;
    assert!(!h.flag(&locked).await);
    let (aa, ca, pa, na) = (
        "http://lemmy-alpha/u/lemmy_aplha",
        "http://lemmy-alpha/c/test",
        "http://lemmy-alpha/post/1",
        "http://lemmy-alpha/comment/1",
    );
    h.remote_community(ca, Some(&alice)).await;
    h.done(&docs::wrap("Create", aa, docs::page(pa, aa, ca)))
        .await;
    h.done(&docs::wrap("Create", aa, docs::note(na, aa, pa, ca)))
        .await;
    let locked = format!("SELECT locked AS v FROM comment WHERE ap_id = '{na}'");
    h.done(&activity("community/lock_note.json")).await;
    assert!(h.flag(&locked).await);
    h.done(&activity("community/undo_lock_note.json")).await;
    assert!(!h.flag(&locked).await);
    assert_eq!(
        h.count("SELECT count(*) AS v FROM mod_action WHERE kind LIKE '%lock_%'")
            .await,
        4
    );

    // A community ban with removeData: the ban row, the content removed; then lifted.
    h.done(&activity("block/block_user.json")).await;
    assert_eq!(
        h.text(&format!(
            "SELECT (c.ap_id || '|' || b.reason || '|' || (b.expires IS NOT NULL)) AS v FROM ban b \
             JOIN person p ON p.id = b.person_id JOIN community c ON c.id = b.community_id \
             WHERE p.ap_id = '{ALPHA}'"
        ))
        .await
        .as_deref(),
        Some("http://enterprise.lemmy.ml/c/main|spam post|true")
    );
    assert!(
        h.flag(&format!(
            "SELECT removed AS v FROM post WHERE ap_id = '{POST1}'"
        ))
        .await
    );
    assert!(
        !h.flag(&format!(
            "SELECT removed AS v FROM post WHERE ap_id = '{post2}'"
        ))
        .await,
        "content in other communities stays"
    );
    h.done(&activity("block/undo_block_user.json")).await;
    assert_eq!(h.count("SELECT count(*) AS v FROM ban").await, 0);

    // Types sluice does not act on are kept as ignored, with an rc.
    h.ignored(&activity("community/warn.json"), "UnsupportedActivity")
        .await;
    // A Follow of a community that is not ours.
    h.ignored(&activity("following/follow.json"), "NotForUs")
        .await;

    // Account deletion with removeData (the fixture reuses delete_page's id).
    let mut delete_user = activity("deletion/delete_user.json");
    delete_user["id"] = json!("http://ds9.lemmy.ml/activities/delete/user-1");
    h.done(&delete_user).await;
    assert!(
        h.flag(&format!(
            "SELECT deleted AS v FROM person WHERE ap_id = '{ALPHA}'"
        ))
        .await
    );
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) AS v FROM post p JOIN person pe ON pe.id = p.creator_id \
             WHERE pe.ap_id = '{ALPHA}' AND NOT p.deleted"
        ))
        .await,
        0,
        "the account's posts are deleted with it"
    );
    assert_eq!(
        h.states().await,
        vec![("done".into(), 30), ("ignored".into(), 2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_seen_from_the_community_instance() {
    // We are enterprise: its community is local; ds9's user follows it and posts to it.
    let mut h = Harness::new("enterprise.lemmy.ml").await;
    serve_actors(&h);
    h.local_community("main").await;

    let follow = activity("following/follow.json");
    h.done(&follow).await;
    assert_eq!(
        h.text(&format!(
            "SELECT f.state || '|' || f.activity_id AS v FROM community_follow f \
             JOIN person p ON p.id = f.person_id WHERE p.ap_id = '{ALPHA}'"
        ))
        .await
        .as_deref(),
        Some("accepted|http://ds9.lemmy.ml/activities/follow/6abcd50b-b8ca-4952-86b0-a6dd8cc12866")
    );
    // The Accept is in the outbound log, signed later as the community, to the follower.
    let accept = h
        .json("SELECT raw AS v FROM outbound_activity WHERE raw->>'type' = 'Accept'")
        .await;
    assert_eq!(accept.len(), 1);
    assert_eq!(accept[0]["actor"], MAIN);
    assert_eq!(accept[0]["object"]["id"], follow["id"]);
    assert_eq!(
        h.text(
            "SELECT array_to_string(t.inboxes, ',') AS v FROM outbound_target t \
             JOIN outbound_activity o ON o.id = t.outbound_id WHERE o.raw->>'type' = 'Accept'"
        )
        .await
        .as_deref(),
        Some("http://ds9.lemmy.ml/u/lemmy_alpha/inbox")
    );
    // A re-delivered Follow (same id, replayed) does not send a second Accept.
    h.exec("UPDATE received_activity SET state = 'pending' WHERE kind = 'Follow'".into())
        .await;
    assert_eq!(h.run().await.done, 1);
    assert_eq!(
        h.count("SELECT count(*) AS v FROM outbound_activity").await,
        1
    );

    // A remote member posts to the local community: stored, and announced by the
    // community to every follower instance (here ds9), embedding the Create.
    let create = activity("create_or_update/create_page.json");
    h.done(&create).await;
    assert_eq!(
        h.count("SELECT count(*) AS v FROM post WHERE local").await,
        0
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM post").await, 1);
    let announce = h
        .json("SELECT raw AS v FROM outbound_activity WHERE raw->>'type' = 'Announce'")
        .await;
    assert_eq!(announce.len(), 1);
    assert_eq!(announce[0]["actor"], MAIN);
    assert_eq!(announce[0]["object"]["id"], create["id"]);
    assert_eq!(announce[0]["object"]["object"]["id"], POST1);
    assert!(
        announce[0]["id"]
            .as_str()
            .unwrap()
            .starts_with("http://enterprise.lemmy.ml/activities/announce/")
    );
    assert_eq!(
        h.text(
            "SELECT i.domain AS v FROM outbound_target t JOIN instance i ON i.id = t.instance_id \
             JOIN outbound_activity o ON o.id = t.outbound_id WHERE o.raw->>'type' = 'Announce'"
        )
        .await
        .as_deref(),
        Some("ds9.lemmy.ml")
    );

    h.done(&activity("following/undo_follow.json")).await;
    assert_eq!(
        h.count("SELECT count(*) AS v FROM community_follow").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_seen_from_the_follower_and_message_recipient() {
    // We are ds9: lemmy_alpha is ours; it followed enterprise's community and gets messages.
    let mut h = Harness::new("ds9.lemmy.ml").await;
    serve_actors(&h);
    let alpha = h.local_person("lemmy_alpha").await;
    assert_eq!(alpha, ALPHA);
    h.remote_community(MAIN, None).await;
    h.exec(format!(
        "INSERT INTO community_follow (community_id, person_id, state, activity_id) \
         SELECT c.id, p.id, 'pending', 'http://ds9.lemmy.ml/activities/follow/6abcd50b-b8ca-4952-86b0-a6dd8cc12866' \
         FROM community c, person p WHERE c.ap_id = '{MAIN}' AND p.ap_id = '{ALPHA}'"
    ))
    .await;
    h.done(&activity("following/accept.json")).await;
    assert_eq!(
        h.text("SELECT state AS v FROM community_follow")
            .await
            .as_deref(),
        Some("accepted")
    );

    let pm = "http://enterprise.lemmy.ml/private_message/1";
    h.done(&activity("create_or_update/create_private_message.json"))
        .await;
    assert_eq!(
        h.text(&format!(
            "SELECT (m.content || '|' || m.source || '|' || cr.ap_id || '|' || re.ap_id) AS v \
             FROM private_message m JOIN person cr ON cr.id = m.creator_id \
             JOIN person re ON re.id = m.recipient_id WHERE m.ap_id = '{pm}'"
        ))
        .await
        .as_deref(),
        Some(
            "hello|hello|http://enterprise.lemmy.ml/u/lemmy_beta|http://ds9.lemmy.ml/u/lemmy_alpha"
        )
    );
    let deleted = format!("SELECT deleted AS v FROM private_message WHERE ap_id = '{pm}'");
    h.done(&activity("deletion/delete_private_message.json"))
        .await;
    assert!(h.flag(&deleted).await);
    h.done(&activity("deletion/undo_delete_private_message.json"))
        .await;
    assert!(!h.flag(&deleted).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lemmy_0_19_private_message_as_chat_message() {
    let mut h = Harness::new("voyager.lemmy.ml").await;
    h.peer
        .serve(docs::person("http://enterprise.lemmy.ml/u/nutomic"));
    h.local_person("nutomic").await;
    h.done(&activity(
        "create_or_update/create_private_message_0.19.json",
    ))
    .await;
    assert_eq!(
        h.text("SELECT content AS v FROM private_message")
            .await
            .as_deref(),
        Some("<p>hi!</p>\n")
    );
}
