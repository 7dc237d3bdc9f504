//! What other software sends ends as rows too: Mastodon posting to a group and replying,
//! PeerTube's videos, objects named only by their id.

mod support;

use serde_json::json;
use support::Harness;
use support::{World, docs};

const R: &str = "http://r.example/c/main";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mastodon_peertube_and_uri_objects() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    let m = "http://m.example/users/bob";
    h.peer.serve(docs::person(m));

    // Mastodon: a public Note mentioning the group, no title; `to` a string; language in
    // contentMap.
    let status = "http://m.example/users/bob/statuses/1";
    h.done(&json!({
        "id": format!("{status}/activity"), "type": "Create", "actor": m,
        "to": "https://www.w3.org/ns/activitystreams#Public", "cc": [R, format!("{m}/followers")],
        "object": {
            "id": status, "type": "Note", "attributedTo": m,
            "to": "https://www.w3.org/ns/activitystreams#Public", "cc": [R, format!("{m}/followers")],
            "contentMap": {"en": "<p><span class=\"h-card\">@main</span> Hello from Mastodon</p>"},
            "published": "2024-01-01T00:00:00Z",
            "tag": [{"type": "Mention", "href": R, "name": "@main@r.example"}],
        },
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT name || '|' || language AS v FROM post WHERE ap_id = '{status}'"
        ))
        .await
        .as_deref(),
        Some("@main Hello from Mastodon|en")
    );
    // A Mastodon reply to it is a comment under it.
    let reply = "http://m.example/users/bob/statuses/2";
    h.done(&json!({
        "id": format!("{reply}/activity"), "type": "Create", "actor": m,
        "to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": [R],
        "object": {
            "id": reply, "type": "Note", "attributedTo": m, "inReplyTo": status,
            "to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": [R],
            "content": "<p>and a reply</p>",
        },
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT p.ap_id AS v FROM comment c JOIN post p ON p.id = c.post_id WHERE c.ap_id = '{reply}'"
        ))
        .await,
        Some(status.to_string())
    );

    // PeerTube: a Video attributed to its account and channel; its link is the watch page.
    let pt = "http://p.example/accounts/carol";
    h.peer.serve(docs::person(pt));
    let video = "http://p.example/videos/watch/1";
    h.done(&json!({
        "id": "http://p.example/videos/watch/1/activity", "type": "Create", "actor": pt,
        "to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": [R],
        "object": {
            "id": video, "type": "Video", "name": "A video",
            "attributedTo": [{"type": "Person", "id": pt}, {"type": "Group", "id": "http://p.example/video-channels/c"}],
            "to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": [R],
            "url": [{"type": "Link", "mediaType": "video/mp4", "href": "http://p.example/v.mp4"},
                    {"type": "Link", "mediaType": "text/html", "href": "http://p.example/w/1"}],
            "content": "description",
        },
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT name || '|' || url AS v FROM post WHERE ap_id = '{video}'"
        ))
        .await
        .as_deref(),
        Some("A video|http://p.example/w/1")
    );

    // A Create naming its object only by id: fetched.
    let page = "http://m.example/post/9";
    let mut doc = docs::page(page, m, R);
    doc["name"] = json!("fetched by id");
    h.peer.serve(doc);
    h.done(&json!({
        "id": "http://m.example/activities/create/9", "type": "Create", "actor": m, "object": page,
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT name AS v FROM post WHERE ap_id = '{page}'"
        ))
        .await
        .as_deref(),
        Some("fetched by id")
    );
}
