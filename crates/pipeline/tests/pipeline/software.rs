//! What other software sends ends as rows too: Mastodon posting to a group and replying,
//! PeerTube's videos, objects named only by their id, Akkoma's emoji reactions.

use crate::support;

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

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// An actor document of another type than Lemmy's (a Mastodon instance actor is an
/// `Application`).
fn actor_of_type(id: &str, kind: &str) -> serde_json::Value {
    let mut d = docs::person(id);
    d["type"] = json!(kind);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peertube_videos_end_in_the_channel_named_only_in_attributed_to() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    let channel = "http://p.example/video-channels/cooking";
    h.remote_community(channel, Some(&alice)).await;
    let account = "http://p.example/accounts/carol";
    h.peer.serve(docs::person(account));

    // PeerTube: created by the account, the channel only in attributedTo (Group first here,
    // so the author is the Person entry, not the first one); addressed to the public and
    // the account's followers.
    let video = "http://p.example/videos/watch/7";
    h.done(&json!({
        "id": format!("{video}/activity"), "type": "Create", "actor": account,
        "to": [PUBLIC], "cc": [format!("{account}/followers")],
        "object": {
            "id": video, "type": "Video", "name": "Bread", "content": "how to",
            "attributedTo": [{"type": "Group", "id": channel}, {"type": "Person", "id": account}],
            "to": [PUBLIC], "cc": [format!("{account}/followers")],
            "url": [{"type": "Link", "mediaType": "text/html", "href": "http://p.example/w/7"}],
        },
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT c.ap_id || '|' || pe.ap_id AS v FROM post p JOIN community c ON c.id = p.community_id \
             JOIN person pe ON pe.id = p.creator_id WHERE p.ap_id = '{video}'"
        ))
        .await,
        Some(format!("{channel}|{account}"))
    );

    // Its edit, the Group still listed first: the account is its author.
    h.done(&json!({
        "id": format!("{video}/update/1"), "type": "Update", "actor": account,
        "to": [PUBLIC],
        "object": {
            "id": video, "type": "Video", "name": "Bread, edited",
            "attributedTo": [{"type": "Group", "id": channel}, {"type": "Person", "id": account}],
            "to": [PUBLIC], "updated": "2030-01-01T00:00:00Z",
        },
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT name AS v FROM post WHERE ap_id = '{video}'"
        ))
        .await
        .as_deref(),
        Some("Bread, edited")
    );

    // The channel announces another video by its URL alone (PeerTube's share): fetched,
    // stored in the channel.
    let second = "http://p.example/videos/watch/8";
    h.peer.serve(json!({
        "id": second, "type": "Video", "name": "Cake",
        "attributedTo": [{"type": "Person", "id": account}, {"type": "Group", "id": channel}],
        "to": [PUBLIC], "cc": [format!("{account}/followers")],
    }));
    h.done(&json!({
        "id": format!("{channel}/announces/8"), "type": "Announce", "actor": channel,
        "to": [PUBLIC], "cc": [format!("{channel}/followers")], "object": second,
    }))
    .await;
    // A comment on a video, as PeerTube sends it: a Note replying to the video, addressed to
    // the public and the commenter's followers, naming no community.
    let viewer = "http://m.example/users/dan";
    h.peer.serve(docs::person(viewer));
    let comment = "http://m.example/users/dan/statuses/70";
    h.done(&json!({
        "id": format!("{comment}/activity"), "type": "Create", "actor": viewer,
        "to": [PUBLIC], "cc": [format!("{viewer}/followers"), account],
        "object": {
            "id": comment, "type": "Note", "attributedTo": viewer, "inReplyTo": video,
            "to": [PUBLIC], "cc": [format!("{viewer}/followers"), account],
            "content": "<p>looks good</p>",
        },
    }))
    .await;
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) AS v FROM post p JOIN community c ON c.id = p.community_id \
             WHERE c.ap_id = '{channel}' AND p.ap_id IN ('{video}', '{second}')"
        ))
        .await,
        2
    );
    assert_eq!(
        h.text(&format!(
            "SELECT p.ap_id AS v FROM comment c JOIN post p ON p.id = c.post_id WHERE c.ap_id = '{comment}'"
        ))
        .await,
        Some(video.to_string())
    );

    // A list of plain ids (no types): the entries after the author are candidates too.
    let third = "http://p.example/videos/watch/9";
    h.done(&json!({
        "id": format!("{third}/activity"), "type": "Create", "actor": account,
        "object": {
            "id": third, "type": "Video", "name": "Pie",
            "attributedTo": [account, channel], "to": [PUBLIC],
        },
    }))
    .await;
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) AS v FROM post WHERE ap_id = '{third}'"
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_announce_is_evidence_of_its_own_community_only() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    let forum = "http://f.example/profile/gardening";
    h.remote_community(forum, Some(&alice)).await;
    h.remote_community(R, Some(&alice)).await;
    let bob = "http://f.example/profile/bob";
    h.peer.serve(docs::person(bob));

    // Friendica: a forum (Group) announces a member's post that names the forum only in a
    // mention; the Announce is the evidence.
    let post = "http://f.example/objects/1";
    let note = json!({
        "id": post, "type": "Note", "attributedTo": bob, "content": "<p>!gardening tomatoes</p>",
        "to": [PUBLIC], "cc": [format!("{bob}/followers")],
        "tag": [{"type": "Mention", "href": forum}],
    });
    h.done(&json!({
        "id": format!("{forum}/announce/1"), "type": "Announce", "actor": forum,
        "to": [PUBLIC], "cc": [format!("{forum}/followers")], "object": note,
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT c.ap_id AS v FROM post p JOIN community c ON c.id = p.community_id WHERE p.ap_id = '{post}'"
        ))
        .await,
        Some(forum.to_string())
    );

    // Discourse: a category announces its member's Create of a post that names no
    // community; the same rule.
    let wrapped = "http://f.example/objects/4";
    let mut n4 = note.clone();
    n4["id"] = json!(wrapped);
    h.done(&json!({
        "id": format!("{forum}/announce/4"), "type": "Announce", "actor": forum,
        "to": [PUBLIC], "object": docs::wrap("Create", bob, n4),
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT c.ap_id AS v FROM post p JOIN community c ON c.id = p.community_id WHERE p.ap_id = '{wrapped}'"
        ))
        .await,
        Some(forum.to_string())
    );

    // The same post sent directly names no community: not stored.
    let direct = "http://f.example/objects/2";
    let mut n2 = note.clone();
    n2["id"] = json!(direct);
    h.ignored(&docs::wrap("Create", bob, n2.clone()), "NotForUs")
        .await;

    // An Announce by the forum of content addressed to another community: still a
    // mismatch, the announcer does not override what the content names.
    let mut n3 = note.clone();
    n3["id"] = json!("http://f.example/objects/3");
    n3["cc"] = json!([R]);
    h.ignored(
        &json!({
            "id": format!("{forum}/announce/3"), "type": "Announce", "actor": forum,
            "to": [PUBLIC], "object": n3,
        }),
        "CommunityMismatch",
    )
    .await;
    assert_eq!(
        h.count("SELECT count(*) AS v FROM post WHERE ap_id LIKE 'http://f.example/objects/%'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_public_notes_to_local_users_are_private_messages_whatever_they_reply_to() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    let bob = "http://m.example/users/bob";
    h.peer.serve(docs::person(bob));

    // Mastodon, "mentioned people only": a reply to a status this instance never saw (its
    // server would not serve it without authorisation).
    let parent = "http://m.example/users/bob/statuses/1";
    let dm = "http://m.example/users/bob/statuses/2";
    h.done(&json!({
        "id": format!("{dm}/activity"), "type": "Create", "actor": bob, "to": [alice],
        "object": {
            "id": dm, "type": "Note", "attributedTo": bob, "inReplyTo": parent,
            "to": [alice], "cc": [], "content": "<p>@alice psst</p>",
        },
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT r.ap_id || '|' || m.content AS v FROM private_message m \
             JOIN person r ON r.id = m.recipient_id WHERE m.ap_id = '{dm}'"
        ))
        .await,
        Some(format!("{alice}|<p>@alice psst</p>"))
    );
    assert!(
        !h.fetched(parent),
        "the parent of a private message is not fetched"
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM comment").await, 0);

    // A non-public reply to a known public post, to a local user: a private message too,
    // never community content.
    let post = "http://r.example/post/1";
    h.peer.serve(docs::person("http://r.example/u/carol"));
    h.done(&docs::wrap(
        "Create",
        "http://r.example/u/carol",
        docs::page(post, "http://r.example/u/carol", R),
    ))
    .await;
    let private_reply = "http://m.example/users/bob/statuses/3";
    h.done(&json!({
        "id": format!("{private_reply}/activity"), "type": "Create", "actor": bob,
        "object": {
            "id": private_reply, "type": "Note", "attributedTo": bob, "inReplyTo": post,
            "to": [alice, R], "content": "only you",
        },
    }))
    .await;
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) AS v FROM private_message WHERE ap_id = '{private_reply}'"
        ))
        .await,
        1
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM comment").await, 0);

    // Its edit updates the message; a non-public note to nobody here is not for us.
    h.done(&json!({
        "id": format!("{private_reply}/edit"), "type": "Update", "actor": bob,
        "object": {
            "id": private_reply, "type": "Note", "attributedTo": bob, "inReplyTo": post,
            "to": [alice, R], "content": "only you, edited", "updated": "2030-01-01T00:00:00Z",
        },
    }))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT content AS v FROM private_message WHERE ap_id = '{private_reply}'"
        ))
        .await
        .as_deref(),
        Some("only you, edited")
    );
    let stray = "http://m.example/users/bob/statuses/4";
    h.ignored(
        &json!({
            "id": format!("{stray}/activity"), "type": "Create", "actor": bob,
            "object": {
                "id": stray, "type": "Note", "attributedTo": bob, "inReplyTo": parent,
                "to": [format!("{bob}/followers")], "content": "followers only",
            },
        }),
        "NotForUs",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_reasons_come_from_summary_else_content_bounded() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    let carol = "http://r.example/u/carol";
    h.peer.serve(docs::person(carol));
    let post = "http://r.example/post/5";
    h.done(&docs::wrap("Create", carol, docs::page(post, carol, R)))
        .await;

    // Mastodon: the instance actor (an Application) reports the account and the status,
    // the reason in `content`.
    let instance = "http://m.example/actor";
    h.peer.serve(actor_of_type(instance, "Application"));
    let flag = |id: &str, extra: serde_json::Value| {
        let mut f = json!({
            "id": id, "type": "Flag", "actor": instance, "object": [carol, post],
        });
        if let (Some(f), Some(extra)) = (f.as_object_mut(), extra.as_object()) {
            f.extend(extra.clone());
        }
        f
    };
    h.done(&flag(
        "http://m.example/flags/1",
        json!({"content": "spam"}),
    ))
    .await;
    // An empty summary does not hide the content; a long reason is cut to Lemmy's limit.
    h.done(&flag(
        "http://m.example/flags/2",
        json!({"summary": "", "content": "from content"}),
    ))
    .await;
    h.done(&flag(
        "http://m.example/flags/3",
        json!({"content": "x".repeat(5000)}),
    ))
    .await;
    h.done(&flag(
        "http://m.example/flags/4",
        json!({"summary": "lemmy's", "content": "not this"}),
    ))
    .await;
    // NodeBB: a member reports the post then its author, reason in `content`; its Undo of a
    // report is not acted on (Lemmy has none).
    let nodebb = "http://n.example/uid/7";
    h.peer.serve(docs::person(nodebb));
    let nodebb_flag = json!({
        "id": "http://n.example/post/x#activity/flag/7", "type": "Flag", "actor": nodebb,
        "object": [post, carol], "content": "off topic",
    });
    h.done(&nodebb_flag).await;
    h.ignored(
        &json!({"id": "http://n.example/post/x#activity/undo:flag/7/1", "type": "Undo",
                "actor": nodebb, "object": nodebb_flag}),
        "UnsupportedActivity",
    )
    .await;
    let reasons = h
        .json(
            "SELECT jsonb_build_object('id', r.ap_id, 'reason', r.reason, 'post', p.ap_id) AS v \
             FROM report r JOIN post p ON p.id = r.post_id ORDER BY r.ap_id",
        )
        .await;
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert_eq!(reasons[0]["reason"], "spam");
    assert_eq!(reasons[0]["post"], post);
    assert_eq!(reasons[1]["reason"], "from content");
    let long = reasons[2]["reason"].as_str().unwrap_or_default();
    assert_eq!(long.chars().count(), sluice_apub::vocab::MAX_REASON_CHARS);
    assert_eq!(reasons[3]["reason"], "lemmy's");
    assert_eq!(reasons[4]["reason"], "off topic");
    assert_eq!(reasons[4]["post"], post);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microblog_edits_tombstone_deletes_reactions_and_boosts() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    let m = "http://m.example/users/bob";
    h.peer.serve(docs::person(m));
    let status = "http://m.example/users/bob/statuses/10";
    let note = |content: &str, updated: Option<&str>| {
        let mut n = json!({
            "id": status, "type": "Note", "attributedTo": m, "content": content,
            "to": [PUBLIC], "cc": [R], "published": "2024-01-01T00:00:00Z",
        });
        if let Some(u) = updated {
            n["updated"] = json!(u);
        }
        n
    };
    h.done(&docs::wrap("Create", m, note("<p>first</p>", None)))
        .await;

    // Mastodon's edit: an Update of the Note with `updated`.
    h.done(&docs::wrap(
        "Update",
        m,
        note("<p>edited</p>", Some("2024-01-02T00:00:00Z")),
    ))
    .await;
    assert_eq!(
        h.text(&format!(
            "SELECT body AS v FROM post WHERE ap_id = '{status}'"
        ))
        .await
        .as_deref(),
        Some("<p>edited</p>")
    );

    // A person's boost: understood, not stored.
    let other = "http://a.example/users/eve";
    h.peer.serve(docs::person(other));
    h.ignored(
        &json!({"id": "http://a.example/activities/boost/1", "type": "Announce",
                "actor": other, "object": status, "to": [PUBLIC]}),
        "UnsupportedActivity",
    )
    .await;

    // Mastodon's favourite is an upvote.
    h.done(
        &json!({"id": "http://a.example/activities/like/1", "type": "Like",
                   "actor": other, "object": status}),
    )
    .await;
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) AS v FROM vote v JOIN post p ON p.id = v.post_id \
             WHERE p.ap_id = '{status}' AND v.score = 1"
        ))
        .await,
        1
    );

    // Mastodon's delete embeds a Tombstone of the status.
    h.done(&json!({
        "id": format!("{status}#delete"), "type": "Delete", "actor": m, "to": [PUBLIC],
        "object": {"id": status, "type": "Tombstone", "atomUri": status},
    }))
    .await;
    assert!(
        h.flag(&format!(
            "SELECT deleted AS v FROM post WHERE ap_id = '{status}'"
        ))
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emoji_reactions_count_as_upvotes_and_their_undo_takes_them_back() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    let m = "http://m.example/users/bob";
    h.peer.serve(docs::person(m));
    let status = "http://m.example/users/bob/statuses/20";
    let note = json!({
        "id": status, "type": "Note", "attributedTo": m, "content": "<p>react to me</p>",
        "to": [PUBLIC], "cc": [R], "published": "2024-01-01T00:00:00Z",
    });
    h.done(&docs::wrap("Create", m, note)).await;
    let akko = "http://a.example/users/akko";
    h.peer.serve(docs::person(akko));
    let upvotes = format!(
        "SELECT count(*) AS v FROM vote v JOIN post p ON p.id = v.post_id \
         WHERE p.ap_id = '{status}' AND v.score = 1"
    );
    let counted = || {
        sluice_metrics::global()
            .pipeline_activities_total
            .with_label_values(&["EmojiReact", "done"])
            .get()
    };
    let before = counted();

    // Akkoma's reaction with a custom emoji, shaped as Akkoma sends it (FEP-c0e0).
    let react = json!({
        "@context": ["https://www.w3.org/ns/activitystreams",
                     "http://a.example/schemas/litepub-0.1.jsonld", {"@language": "und"}],
        "id": "http://a.example/activities/23143872a0346141", "type": "EmojiReact",
        "actor": akko, "nickname": "akko",
        "to": [m, format!("{akko}/followers")], "cc": [PUBLIC],
        "content": ":dinosaur:", "object": status,
        "tag": [{"type": "Emoji", "id": "http://a.example/emoji/dino.png", "name": ":dinosaur:",
                 "icon": {"type": "Image", "url": "http://a.example/emoji/dino.png"}}],
    });
    h.done(&react).await;
    assert_eq!(h.count(&upvotes).await, 1);
    // Another emoji on the same post is the same vote.
    h.done(
        &json!({"id": "http://a.example/activities/23143872a0346142", "type": "EmojiReact",
                   "actor": akko, "content": "🔥", "object": status}),
    )
    .await;
    assert_eq!(h.count(&upvotes).await, 1);
    // The metric labels it by its own type.
    assert!(counted() >= before + 2);

    // Only the reactor undoes it; its Undo takes the vote back.
    h.ignored(
        &json!({"id": "http://m.example/activities/undo/20", "type": "Undo", "actor": m,
                "object": react.clone()}),
        "NotPermitted",
    )
    .await;
    assert_eq!(h.count(&upvotes).await, 1);
    h.done(
        &json!({"id": "http://a.example/activities/undo/1", "type": "Undo", "actor": akko,
                   "object": react}),
    )
    .await;
    assert_eq!(h.count(&upvotes).await, 0);

    // A reaction to deleted content counts no more than a vote would.
    h.done(
        &json!({"id": format!("{status}#delete"), "type": "Delete", "actor": m,
                   "to": [PUBLIC], "object": status}),
    )
    .await;
    h.ignored(
        &json!({"id": "http://a.example/activities/23143872a0346143", "type": "EmojiReact",
                "actor": akko, "content": "🔥", "object": status}),
        "ObjectDeleted",
    )
    .await;
    assert_eq!(h.count(&upvotes).await, 0);
}
