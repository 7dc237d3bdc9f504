//! Other software's payload shapes through the real binary (`docs/interop.md`): signed by
//! `TestPeer`s on their own loopback addresses, which serve their actors; the rows they end
//! in are what their authors meant.

use crate::support::sluice_on_test_db;
use serde_json::{Value, json};
use sluice_testkit::Sluice;
use sluice_testkit::lemmy::{JournalRow, Rows};
use sluice_testkit::peer::TestPeer;
use std::time::{Duration, Instant};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
const ENV: &[(&str, &str)] = &[
    ("SLUICE_PIPELINE_RETRY_BASE_SECONDS", "0.2"),
    ("SLUICE_PIPELINE_FETCH_TIMEOUT_SECONDS", "5"),
];

/// `actor` (on `peer`) delivers `a` to `inbox`; the journal row once processed.
async fn delivered(
    sluice: &Sluice,
    rows: &Rows,
    peer: &TestPeer,
    inbox: &str,
    actor: &str,
    a: &Value,
) -> JournalRow {
    let answer = peer.deliver(inbox, actor, a).await.unwrap();
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = a["id"].as_str().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = rows.journal_row_of(id).await
            && r.is_final()
        {
            assert_eq!(r.state, "done", "{id}: {r:?}");
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{id} not processed\n{}",
            sluice.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_of_other_software_end_as_their_authors_meant() {
    let (sluice, t) = sluice_on_test_db(ENV).await;
    let rows = Rows::new(t.db.clone());
    assert!(sluice.admin(&["user", "create", "alice"]).status.success());
    let alice = format!("{}/u/alice", sluice.base);
    let shared_inbox = format!("{}/inbox", sluice.base);

    // A video platform: an account and its channel (a Group) the local user follows.
    let video_host = TestPeer::start_on("127.0.0.61").await;
    let account = video_host.add_person("carol").await;
    let channel = video_host.add_group("cooking").await;
    rows.remote_community(&channel, Some(&alice)).await;

    // 1. A Video created by the account, its channel only in attributedTo.
    let video = video_host.url("/videos/watch/1");
    let create = json!({
        "id": video_host.url("/videos/watch/1/activity"), "type": "Create", "actor": account,
        "to": [PUBLIC], "cc": [format!("{account}/followers")],
        "object": {
            "id": video, "type": "Video", "name": "Bread", "content": "<p>how to</p>",
            "attributedTo": [{"type": "Person", "id": account}, {"type": "Group", "id": channel}],
            "to": [PUBLIC], "cc": [format!("{account}/followers")],
            "url": [{"type": "Link", "mediaType": "text/html", "href": video_host.url("/w/1")}],
        },
    });
    delivered(
        &sluice,
        &rows,
        &video_host,
        &shared_inbox,
        &account,
        &create,
    )
    .await;
    assert_eq!(
        rows.text(&format!(
            "SELECT c.ap_id || '|' || pe.ap_id || '|' || p.name AS v FROM post p \
             JOIN community c ON c.id = p.community_id JOIN person pe ON pe.id = p.creator_id \
             WHERE p.ap_id = '{video}'"
        ))
        .await,
        Some(format!("{channel}|{account}|Bread"))
    );

    // 2. A microblog's mentions-only reply to the local user, to a status sluice never saw
    // (its server answers 404 without authorisation): a private message, no comment. Sent
    // to the shared inbox, as Mastodon does when the recipient's server has one.
    let microblog = TestPeer::start_on("127.0.0.62").await;
    let bob = microblog.add_person("bob").await;
    let parent = microblog.url("/statuses/1");
    let dm = microblog.url("/statuses/2");
    let reply = json!({
        "id": microblog.url("/statuses/2/activity"), "type": "Create", "actor": bob,
        "to": [alice],
        "object": {
            "id": dm, "type": "Note", "attributedTo": bob, "inReplyTo": parent,
            "to": [alice], "cc": [], "content": "<p>@alice between us</p>",
        },
    });
    delivered(&sluice, &rows, &microblog, &shared_inbox, &bob, &reply).await;
    assert_eq!(
        rows.text(&format!(
            "SELECT c.ap_id || '|' || r.ap_id || '|' || m.content AS v FROM private_message m \
             JOIN person c ON c.id = m.creator_id JOIN person r ON r.id = m.recipient_id \
             WHERE m.ap_id = '{dm}'"
        ))
        .await,
        Some(format!("{bob}|{alice}|<p>@alice between us</p>"))
    );
    assert_eq!(rows.count("SELECT count(*) AS v FROM comment").await, 0);

    // 2b. A forum (a Group the local user follows) announces a member's post that names
    // the forum only in a mention: the Announce is the evidence of its community.
    let forum_host = TestPeer::start_on("127.0.0.63").await;
    let forum = forum_host.add_group("gardening").await;
    let member = forum_host.add_person("erin").await;
    rows.remote_community(&forum, Some(&alice)).await;
    let post = forum_host.url("/objects/1");
    let announce = json!({
        "id": forum_host.url("/objects/1/announce"), "type": "Announce", "actor": forum,
        "to": [PUBLIC], "cc": [format!("{forum}/followers")],
        "object": {
            "id": post, "type": "Note", "attributedTo": member,
            "content": "<p>!gardening tomatoes</p>", "to": [PUBLIC],
            "cc": [format!("{member}/followers")], "tag": [{"type": "Mention", "href": forum}],
        },
    });
    delivered(
        &sluice,
        &rows,
        &forum_host,
        &shared_inbox,
        &forum,
        &announce,
    )
    .await;
    assert_eq!(
        rows.text(&format!(
            "SELECT c.ap_id || '|' || pe.ap_id AS v FROM post p \
             JOIN community c ON c.id = p.community_id JOIN person pe ON pe.id = p.creator_id \
             WHERE p.ap_id = '{post}'"
        ))
        .await,
        Some(format!("{forum}|{member}"))
    );

    // 3. A report with its reason in `content` (no `summary`), naming the account and the
    // video.
    let flag = json!({
        "id": microblog.url("/flags/1"), "type": "Flag", "actor": bob,
        "object": [account, video], "content": "not a cooking video",
    });
    delivered(&sluice, &rows, &microblog, &shared_inbox, &bob, &flag).await;
    assert_eq!(
        rows.text(&format!(
            "SELECT p.ap_id || '|' || c.ap_id || '|' || r.reason AS v FROM report r \
             JOIN post p ON p.id = r.post_id JOIN community c ON c.id = r.community_id \
             WHERE r.ap_id = '{}'",
            microblog.url("/flags/1")
        ))
        .await,
        Some(format!("{video}|{channel}|not a cooking video"))
    );
}
