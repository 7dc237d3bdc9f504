//! Every Lemmy fixture activity, handed to sluice, and the rows it must end in.
//!
//! Four instances' points of view, because the fixtures play between several: a third
//! instance following enterprise's community (most of them), enterprise itself (follows of
//! its community, relaying), ds9 (the answer to its follow, private messages to its user)
//! and voyager (Lemmy 0.19's ChatMessage). Each scenario says which fixture hosts are local
//! ([`Scenario::local`]); the setting puts those on sluice and the others elsewhere.
//! Ids are written with the fixture hosts and rewritten through [`Hosts::map`].

use super::{Hosts, Rows, World, docs};
use serde_json::json;

const ALPHA: &str = "http://ds9.lemmy.ml/u/lemmy_alpha";
const DS9_USER: &str = "http://ds9.lemmy.ml/u/lemmy_user";
const BETA: &str = "http://enterprise.lemmy.ml/u/lemmy_beta";
const MAIN: &str = "http://enterprise.lemmy.ml/c/main";
const DS9_MAIN: &str = "http://ds9.lemmy.ml/c/main";
const POST1: &str = "http://ds9.lemmy.ml/post/1";
const COMMENT1: &str = "http://ds9.lemmy.ml/comment/1";
const A8541: &str = "http://lemmy-alpha:8541/u/lemmy_alpha";
const AA: &str = "http://lemmy-alpha/u/lemmy_aplha";
/// A second follower of enterprise's community, on another instance.
const SEVEN: &str = "http://voyager.lemmy.ml/u/seven";
const NUTOMIC: &str = "http://enterprise.lemmy.ml/u/nutomic";

/// One point of view on the fixtures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A third instance whose user follows enterprise's and ds9's communities.
    ThirdInstance,
    /// enterprise: its community `main` is local; ds9's and voyager's users follow it.
    CommunityInstance,
    /// ds9: its user `lemmy_alpha` followed enterprise's community and gets messages.
    FollowerInstance,
    /// voyager: its user `nutomic` gets a Lemmy 0.19 ChatMessage.
    ChatRecipient,
}

impl Scenario {
    /// The fixture hosts that are sluice in this scenario (none: sluice is a third party).
    pub fn local(self) -> &'static [&'static str] {
        match self {
            Scenario::ThirdInstance => &[],
            Scenario::CommunityInstance => &["enterprise.lemmy.ml"],
            Scenario::FollowerInstance => &["ds9.lemmy.ml"],
            Scenario::ChatRecipient => &["voyager.lemmy.ml"],
        }
    }

    /// The fixture hosts that are remote instances sluice talks to.
    pub fn remote(self) -> &'static [&'static str] {
        match self {
            Scenario::ThirdInstance => &[
                "ds9.lemmy.ml",
                "enterprise.lemmy.ml",
                "lemmy-alpha:8541",
                "lemmy-alpha",
            ],
            Scenario::CommunityInstance => &["ds9.lemmy.ml", "voyager.lemmy.ml"],
            Scenario::FollowerInstance | Scenario::ChatRecipient => &["enterprise.lemmy.ml"],
        }
    }

    /// Runs the scenario in `w`.
    pub async fn run(self, w: &mut impl World) {
        match self {
            Scenario::ThirdInstance => third_instance(w).await,
            Scenario::CommunityInstance => community_instance(w).await,
            Scenario::FollowerInstance => follower_instance(w).await,
            Scenario::ChatRecipient => chat_recipient(w).await,
        }
    }
}

fn parts(w: &impl World) -> (Hosts, Rows) {
    (w.hosts().clone(), w.rows().clone())
}

/// `"score/upvotes/downvotes"` of a post or comment.
fn score(id: &str) -> String {
    format!(
        "SELECT (score || '/' || upvotes || '/' || downvotes) AS v FROM post WHERE ap_id = '{id}' \
         UNION ALL SELECT (score || '/' || upvotes || '/' || downvotes) FROM comment WHERE ap_id = '{id}'"
    )
}

async fn third_instance(w: &mut impl World) {
    let (h, db) = parts(w);
    let m = |s: &str| h.map(s);
    let (alpha, beta, main, ds9_main, post1, comment1) = (
        m(ALPHA),
        m(BETA),
        m(MAIN),
        m(DS9_MAIN),
        m(POST1),
        m(COMMENT1),
    );
    for p in [ALPHA, BETA, DS9_USER, A8541, AA] {
        w.remote_person(&m(p)).await;
    }
    let alice = w.local_person("alice").await;
    w.remote_community(&main, Some(&alice)).await;
    w.remote_community(&ds9_main, Some(&alice)).await;

    // A post in a followed remote community: author fetched, fields stored.
    w.done(&h.activity("create_or_update/create_page.json"))
        .await;
    assert_eq!(
        db.text(&format!(
            "SELECT p.name || '|' || p.url || '|' || p.body || '|' || p.source || '|' || p.language \
             || '|' || c.ap_id || '|' || pe.ap_id AS v FROM post p JOIN community c ON c.id = p.community_id \
             JOIN person pe ON pe.id = p.creator_id WHERE p.ap_id = '{post1}'"
        ))
        .await,
        Some(m(
            "test post|https://lemmy.ml/pictrs/image/xl8W7FZfk9.jpg|<p>test body</p>\n|test body|ko|\
             http://enterprise.lemmy.ml/c/main|http://ds9.lemmy.ml/u/lemmy_alpha"
        ))
    );
    assert!(w.fetched(&alpha), "the unknown author was fetched");

    // A comment hangs under its post.
    w.done(&h.activity("create_or_update/create_comment.json"))
        .await;
    assert_eq!(
        db.text(&format!(
            "SELECT p.ap_id || '|' || coalesce(cm.parent_id::text, 'top') || '|' || cm.content AS v \
             FROM comment cm JOIN post p ON p.id = cm.post_id WHERE cm.ap_id = '{comment1}'"
        ))
        .await,
        Some(format!("{post1}|top|hello"))
    );

    // An Update with a newer version replaces the title.
    w.done(&h.activity("create_or_update/update_page.json"))
        .await;
    assert_eq!(
        db.text(&format!(
            "SELECT name || '|' || (updated IS NOT NULL) AS v FROM post WHERE ap_id = '{post1}'"
        ))
        .await
        .as_deref(),
        Some("test post 1|true")
    );

    // Votes change scores; their Undos (Lemmy wraps a fresh Like) take them back.
    w.done(&h.activity("voting/like_note.json")).await;
    assert_eq!(db.text(&score(&comment1)).await.as_deref(), Some("1/1/0"));
    w.done(&h.activity("voting/dislike_page.json")).await;
    assert_eq!(db.text(&score(&post1)).await.as_deref(), Some("-1/0/1"));
    assert_eq!(db.count("SELECT count(*) AS v FROM vote").await, 2);
    w.done(&h.activity("voting/undo_dislike_page.json")).await;
    assert_eq!(db.text(&score(&post1)).await.as_deref(), Some("0/0/0"));
    w.done(&h.activity("voting/undo_like_note.json")).await;
    assert_eq!(db.text(&score(&comment1)).await.as_deref(), Some("0/0/0"));
    assert_eq!(db.count("SELECT count(*) AS v FROM vote").await, 0);

    // A moderator's removal (Delete with a summary) and its Undo; both in the mod log.
    w.done(&h.activity("deletion/remove_note.json")).await;
    let removed = format!("SELECT removed AS v FROM comment WHERE ap_id = '{comment1}'");
    assert!(db.flag(&removed).await);
    assert_eq!(
        db.text("SELECT kind || '|' || reason AS v FROM mod_action WHERE kind = 'remove_comment'")
            .await
            .as_deref(),
        Some("remove_comment|bad comment")
    );
    w.done(&h.activity("deletion/undo_remove_note.json")).await;
    assert!(!db.flag(&removed).await);
    assert_eq!(
        db.count("SELECT count(*) AS v FROM mod_action WHERE kind = 'restore_comment'")
            .await,
        1
    );

    // The author's Delete tombstones the post; Undo(Delete) restores it.
    let deleted = format!("SELECT deleted AS v FROM post WHERE ap_id = '{post1}'");
    w.done(&h.activity("deletion/delete_page.json")).await;
    assert!(db.flag(&deleted).await);
    w.done(&h.activity("deletion/undo_delete_page.json")).await;
    assert!(!db.flag(&deleted).await);

    // Moderators: enterprise's user adds ds9's (allowed: same instance as the community),
    // who may then update the community; then removes them again.
    w.done(&h.activity("community/add_mod.json")).await;
    let is_mod = format!(
        "SELECT EXISTS (SELECT 1 FROM community_moderator m JOIN community c ON c.id = m.community_id \
         JOIN person p ON p.id = m.person_id WHERE c.ap_id = '{main}' AND p.ap_id = '{alpha}') AS v"
    );
    assert!(db.flag(&is_mod).await);
    w.done(&h.activity("community/update_community.json")).await;
    assert_eq!(
        db.text(&format!(
            "SELECT title AS v FROM community WHERE ap_id = '{main}'"
        ))
        .await
        .as_deref(),
        Some("The Updated Community")
    );
    w.done(&h.activity("community/remove_mod.json")).await;
    assert!(!db.flag(&is_mod).await);

    // A report of a post not known here yet, to its community; resolved by a ds9 user whom
    // the community's moderators collection lists (fetched to decide).
    w.serve(json!({
        "type": "OrderedCollection", "id": format!("{main}/moderators"),
        "orderedItems": [beta, m(DS9_USER)],
    }))
    .await;
    w.done(&h.activity("community/report_page.json")).await;
    let report = "SELECT (r.object_ap_id || '|' || c.ap_id || '|' || r.reason || '|' || r.resolved) AS v \
                  FROM report r JOIN community c ON c.id = r.community_id";
    assert_eq!(
        db.text(report).await,
        Some(m(
            "http://enterprise.lemmy.ml/post/7|http://enterprise.lemmy.ml/c/main|report this post|false"
        ))
    );
    w.done(&h.activity("community/resolve_report_page.json"))
        .await;
    assert!(db.text(report).await.unwrap_or_default().ends_with("|true"));

    // The community announces a post: kept, because alice follows the community.
    w.done(&h.activity("community/announce_create_page.json"))
        .await;
    assert_eq!(
        db.text(&format!(
            "SELECT name AS v FROM post WHERE ap_id = '{}'",
            m("http://enterprise.lemmy.ml/post/7")
        ))
        .await
        .as_deref(),
        Some("post 4")
    );

    // Featured posts of ds9's community (the post is created first).
    let post2 = m("http://ds9.lemmy.ml/post/2");
    w.done(&docs::wrap(
        "Create",
        &alpha,
        docs::page(&post2, &alpha, &ds9_main),
    ))
    .await;
    let featured = format!("SELECT featured AS v FROM post WHERE ap_id = '{post2}'");
    w.done(&h.activity("community/add_featured_post.json"))
        .await;
    assert!(db.flag(&featured).await);
    // The fixture reuses the Add's id; a receiver would drop it as a duplicate.
    let mut unfeature = h.activity("community/remove_featured_post.json");
    unfeature["id"] = json!(m("http://ds9.lemmy.ml/activities/remove/1"));
    w.done(&unfeature).await;
    assert!(!db.flag(&featured).await);

    // Locks, of a post and of a comment, on lemmy-alpha (content created first).
    let (a8541, c8541, p8541) = (
        m(A8541),
        m("http://lemmy-alpha:8541/c/main"),
        m("http://lemmy-alpha:8541/post/2"),
    );
    w.remote_community(&c8541, Some(&alice)).await;
    w.done(&docs::wrap(
        "Create",
        &a8541,
        docs::page(&p8541, &a8541, &c8541),
    ))
    .await;
    let locked = format!("SELECT locked AS v FROM post WHERE ap_id = '{p8541}'");
    w.done(&h.activity("community/lock_page.json")).await;
    assert!(db.flag(&locked).await);
    w.done(&h.activity("community/undo_lock_page.json")).await;
    assert!(!db.flag(&locked).await);
    let (aa, ca, pa, na) = (
        m(AA),
        m("http://lemmy-alpha/c/test"),
        m("http://lemmy-alpha/post/1"),
        m("http://lemmy-alpha/comment/1"),
    );
    w.remote_community(&ca, Some(&alice)).await;
    w.done(&docs::wrap("Create", &aa, docs::page(&pa, &aa, &ca)))
        .await;
    w.done(&docs::wrap("Create", &aa, docs::note(&na, &aa, &pa, &ca)))
        .await;
    let locked = format!("SELECT locked AS v FROM comment WHERE ap_id = '{na}'");
    w.done(&h.activity("community/lock_note.json")).await;
    assert!(db.flag(&locked).await);
    w.done(&h.activity("community/undo_lock_note.json")).await;
    assert!(!db.flag(&locked).await);
    assert_eq!(
        db.count("SELECT count(*) AS v FROM mod_action WHERE kind LIKE '%lock_%'")
            .await,
        4
    );

    // A community ban with removeData: the ban row, the content removed; then lifted.
    w.done(&h.activity("block/block_user.json")).await;
    assert_eq!(
        db.text(&format!(
            "SELECT (c.ap_id || '|' || b.reason || '|' || (b.expires IS NOT NULL)) AS v FROM ban b \
             JOIN person p ON p.id = b.person_id JOIN community c ON c.id = b.community_id \
             WHERE p.ap_id = '{alpha}'"
        ))
        .await,
        Some(format!("{main}|spam post|true"))
    );
    assert!(
        db.flag(&format!(
            "SELECT removed AS v FROM post WHERE ap_id = '{post1}'"
        ))
        .await
    );
    assert!(
        !db.flag(&format!(
            "SELECT removed AS v FROM post WHERE ap_id = '{post2}'"
        ))
        .await,
        "content in other communities stays"
    );
    w.done(&h.activity("block/undo_block_user.json")).await;
    assert_eq!(db.count("SELECT count(*) AS v FROM ban").await, 0);

    // Types sluice does not act on are kept as ignored, with an rc.
    w.ignored(&h.activity("community/warn.json"), "UnsupportedActivity")
        .await;
    // A Follow of a community that is not ours.
    w.ignored(&h.activity("following/follow.json"), "NotForUs")
        .await;

    // Account deletion with removeData (the fixture reuses delete_page's id).
    let mut delete_user = h.activity("deletion/delete_user.json");
    delete_user["id"] = json!(m("http://ds9.lemmy.ml/activities/delete/user-1"));
    w.done(&delete_user).await;
    assert!(
        db.flag(&format!(
            "SELECT deleted AS v FROM person WHERE ap_id = '{alpha}'"
        ))
        .await
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) AS v FROM post p JOIN person pe ON pe.id = p.creator_id \
             WHERE pe.ap_id = '{alpha}' AND NOT p.deleted"
        ))
        .await,
        0,
        "the account's posts are deleted with it"
    );
    assert_eq!(
        db.states().await,
        vec![("done".into(), 30), ("ignored".into(), 2)]
    );
}

async fn community_instance(w: &mut impl World) {
    // We are enterprise: its community is local; ds9's user follows it and posts to it.
    let (h, db) = parts(w);
    let m = |s: &str| h.map(s);
    let (alpha, seven, main) = (m(ALPHA), m(SEVEN), m(MAIN));
    w.remote_person(&alpha).await;
    w.remote_person(&seven).await;
    assert_eq!(w.local_community("main").await, main);

    let follow = h.activity("following/follow.json");
    w.done(&follow).await;
    let follow_of = |who: &str| {
        format!(
            "SELECT f.state || '|' || f.activity_id AS v FROM community_follow f \
             JOIN person p ON p.id = f.person_id WHERE p.ap_id = '{who}'"
        )
    };
    assert_eq!(
        db.text(&follow_of(&alpha)).await,
        Some(format!(
            "accepted|{}",
            follow["id"].as_str().unwrap_or_default()
        ))
    );
    // The Accept is in the outbound log, signed later as the community, to the follower.
    let accept = db
        .json("SELECT raw AS v FROM outbound_activity WHERE raw->>'type' = 'Accept'")
        .await;
    assert_eq!(accept.len(), 1);
    assert_eq!(accept[0]["actor"], main.as_str());
    assert_eq!(accept[0]["object"]["id"], follow["id"]);
    assert_eq!(
        db.text(
            "SELECT array_to_string(t.inboxes, ',') AS v FROM outbound_target t \
             JOIN outbound_activity o ON o.id = t.outbound_id WHERE o.raw->>'type' = 'Accept'"
        )
        .await,
        Some(format!("{alpha}/inbox"))
    );
    // A re-processed Follow (same id, replayed) does not send a second Accept.
    let row = w.reprocess(follow["id"].as_str().unwrap_or_default()).await;
    assert_eq!(row.state, "done", "{row:?}");
    assert_eq!(
        db.count("SELECT count(*) AS v FROM outbound_activity")
            .await,
        1
    );
    // A follower on a second instance.
    let follow7 = docs::follow(&seven, &main);
    w.done(&follow7).await;
    assert_eq!(
        db.text(&follow_of(&seven)).await,
        Some(format!(
            "accepted|{}",
            follow7["id"].as_str().unwrap_or_default()
        ))
    );

    // A remote member posts to the local community: stored, and announced by the
    // community to every follower instance (ds9 and voyager), embedding the Create.
    let create = h.activity("create_or_update/create_page.json");
    w.done(&create).await;
    assert_eq!(
        db.count("SELECT count(*) AS v FROM post WHERE local").await,
        0
    );
    assert_eq!(db.count("SELECT count(*) AS v FROM post").await, 1);
    let announce = db
        .json("SELECT raw AS v FROM outbound_activity WHERE raw->>'type' = 'Announce'")
        .await;
    assert_eq!(announce.len(), 1);
    assert_eq!(announce[0]["actor"], main.as_str());
    assert_eq!(announce[0]["object"]["id"], create["id"]);
    assert_eq!(announce[0]["object"]["object"]["id"], m(POST1).as_str());
    assert!(
        announce[0]["id"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&m("http://enterprise.lemmy.ml/activities/announce/"))
    );
    let mut targets = db
        .texts(
            "SELECT i.domain AS v FROM outbound_target t JOIN instance i ON i.id = t.instance_id \
             JOIN outbound_activity o ON o.id = t.outbound_id WHERE o.raw->>'type' = 'Announce'",
        )
        .await;
    targets.sort();
    let mut want = vec![
        h.authority("ds9.lemmy.ml").to_string(),
        h.authority("voyager.lemmy.ml").to_string(),
    ];
    want.sort();
    assert_eq!(targets, want, "one Announce per follower instance");

    w.done(&h.activity("following/undo_follow.json")).await;
    assert_eq!(db.text(&follow_of(&alpha)).await, None);
    assert!(db.text(&follow_of(&seven)).await.is_some());
}

async fn follower_instance(w: &mut impl World) {
    // We are ds9: lemmy_alpha is ours; it followed enterprise's community and gets messages.
    let (h, db) = parts(w);
    let m = |s: &str| h.map(s);
    let (alpha, main) = (m(ALPHA), m(MAIN));
    w.remote_person(&m(BETA)).await;
    assert_eq!(w.local_person("lemmy_alpha").await, alpha);
    w.remote_community(&main, None).await;
    db.exec(format!(
        "INSERT INTO community_follow (community_id, person_id, state, activity_id) \
         SELECT c.id, p.id, 'pending', '{}' \
         FROM community c, person p WHERE c.ap_id = '{main}' AND p.ap_id = '{alpha}'",
        m("http://ds9.lemmy.ml/activities/follow/6abcd50b-b8ca-4952-86b0-a6dd8cc12866")
    ))
    .await;
    w.done(&h.activity("following/accept.json")).await;
    assert_eq!(
        db.text("SELECT state AS v FROM community_follow")
            .await
            .as_deref(),
        Some("accepted")
    );

    let pm = m("http://enterprise.lemmy.ml/private_message/1");
    w.done(&h.activity("create_or_update/create_private_message.json"))
        .await;
    assert_eq!(
        db.text(&format!(
            "SELECT (m.content || '|' || m.source || '|' || cr.ap_id || '|' || re.ap_id) AS v \
             FROM private_message m JOIN person cr ON cr.id = m.creator_id \
             JOIN person re ON re.id = m.recipient_id WHERE m.ap_id = '{pm}'"
        ))
        .await,
        Some(format!("hello|hello|{}|{alpha}", m(BETA)))
    );
    let deleted = format!("SELECT deleted AS v FROM private_message WHERE ap_id = '{pm}'");
    w.done(&h.activity("deletion/delete_private_message.json"))
        .await;
    assert!(db.flag(&deleted).await);
    w.done(&h.activity("deletion/undo_delete_private_message.json"))
        .await;
    assert!(!db.flag(&deleted).await);
}

async fn chat_recipient(w: &mut impl World) {
    // We are voyager: nutomic is ours, and enterprise's nutomic writes to them.
    let (h, db) = parts(w);
    w.remote_person(&h.map(NUTOMIC)).await;
    w.local_person("nutomic").await;
    w.done(&h.activity("create_or_update/create_private_message_0.19.json"))
        .await;
    let pm = h.map("http://enterprise.lemmy.ml/private_message/29");
    assert_eq!(
        db.text(&format!(
            "SELECT content AS v FROM private_message WHERE ap_id = '{pm}'"
        ))
        .await
        .as_deref(),
        Some("<p>hi!</p>\n")
    );
}

#[cfg(test)]
mod tests {
    /// A fixture added to the repository must be given its expected rows here.
    #[test]
    fn every_activity_fixture_is_in_a_scenario() {
        let source = include_str!("scenarios.rs");
        let root = crate::lemmy_fixtures().join("activities");
        let mut missing = Vec::new();
        for dir in std::fs::read_dir(&root).unwrap() {
            let dir = dir.unwrap().path();
            for file in std::fs::read_dir(&dir).unwrap() {
                let file = file.unwrap().path();
                let rel = file.strip_prefix(&root).unwrap().display().to_string();
                if !source.contains(&format!("\"{rel}\"")) {
                    missing.push(rel);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fixtures without a scenario: {missing:?}"
        );
    }
}
