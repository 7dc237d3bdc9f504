//! Instance policy and delivery targets through the real binary, against hostile peers on
//! their own loopback addresses (`docs/security.md`, "Instance policy"): a block covers
//! subdomains and every spelling of the host, in the pipeline as in the send queue, and a
//! follower cannot aim a community's signed stream at a third party.

use crate::queue::{TOKEN, publish, wait_cursor};
use crate::support::{admin_ok, exec, journal_end, sluice_on_test_db, texts};
use serde_json::{Value, json};
use sluice_apub::PUBLIC;
use sluice_testkit::peer::TestPeer;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SLUICE_PUBLISH_TOKEN", TOKEN),
        ("SLUICE_PIPELINE_KEEP_ALL_ANNOUNCED", "true"),
        ("SLUICE_PIPELINE_RETRY_BASE_SECONDS", "0.2"),
        ("SLUICE_DELIVERY_POLL_MS", "50"),
        ("SLUICE_DELIVERY_FLUSH_MS", "200"),
        ("SLUICE_INBOX_REFRESH_MS", "100"),
    ]
}

/// Delivers `activity` from `signer` on `peer` to `inbox`, expecting 202 (retrying the 404
/// a just-created local actor answers until the inbox's next refresh).
async fn deliver_202(peer: &TestPeer, inbox: &str, signer: &str, activity: &Value) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let d = peer.deliver(inbox, signer, activity).await.unwrap();
        if d.status == 202 {
            return;
        }
        assert!(
            d.status == 404 && Instant::now() < deadline,
            "{}: {} {}",
            activity["id"],
            d.status,
            d.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn create_page(author: &str, page: &str, community: &str) -> Value {
    let host_base = &author[..author.find("/u/").unwrap()];
    json!({
        "id": format!("{host_base}/activities/create/{}", page.rsplit('/').next().unwrap()),
        "type": "Create",
        "actor": author,
        "to": [PUBLIC],
        "cc": [community],
        "audience": community,
        "object": {
            "id": page,
            "type": "Page",
            "attributedTo": author,
            "name": "a post",
            "audience": community,
            "to": [PUBLIC],
            "cc": [community],
            "published": "2026-12-01T10:00:00Z",
        },
    })
}

fn announce(peer: &TestPeer, community: &str, n: u32, inner: Value) -> Value {
    json!({
        "id": peer.url(&format!("/activities/announce/{n}")),
        "type": "Announce",
        "actor": community,
        "to": [PUBLIC],
        "cc": [format!("{community}/followers")],
        "object": inner,
    })
}

/// A remote community's Announce vouches for content of a subdomain of a blocked domain:
/// ignored with `PolicyBlocked` before anything is fetched from it, while the same
/// community's Announce of an admitted author's post is applied. The block was entered in
/// capitals with a trailing dot and is stored in its normal form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announce_of_content_from_a_blocked_domains_subdomain_is_ignored() {
    let (s, t) = sluice_on_test_db(&env()).await;
    let relay = TestPeer::start_on("127.0.0.41").await;
    let author_peer = TestPeer::start_on("127.0.0.42").await;
    let community = relay.add_group("news").await;
    let alice = author_peer.add_person("alice").await;

    admin_ok(
        &s,
        &["instance", "block", "BLOCKED.Example.", "--reason", "spam"],
    );
    let stored = texts(
        &t.db,
        "SELECT domain AS v FROM instance WHERE policy = 'block'".into(),
    )
    .await;
    assert_eq!(stored, ["blocked.example"]);
    let listed = admin_ok(&s, &["instance", "list"]);
    assert!(listed.contains("blocked.example"), "{listed}");

    let inbox = format!("{}/inbox", s.base);
    // The control: an admitted author's post, announced by the same community, is stored.
    let ok_page = author_peer.url("/post/1");
    let ok = announce(
        &relay,
        &community,
        1,
        create_page(&alice, &ok_page, &community),
    );
    deliver_202(&relay, &inbox, &community, &ok).await;
    assert_eq!(
        journal_end(&t.db, ok["id"].as_str().unwrap()).await,
        "done -"
    );

    // Content of x.blocked.example inside the allowed community's Announce.
    let spammer = "http://x.blocked.example/u/spammer";
    let spam_page = "http://x.blocked.example/post/1";
    let spam = announce(
        &relay,
        &community,
        2,
        create_page(spammer, spam_page, &community),
    );
    deliver_202(&relay, &inbox, &community, &spam).await;
    assert_eq!(
        journal_end(&t.db, spam["id"].as_str().unwrap()).await,
        "ignored PolicyBlocked"
    );
    let posts = texts(&t.db, "SELECT ap_id AS v FROM post ORDER BY ap_id".into()).await;
    assert_eq!(posts, [ok_page], "only the admitted post is stored");
    let persons = texts(
        &t.db,
        "SELECT ap_id AS v FROM person WHERE ap_id LIKE '%blocked.example%'".into(),
    )
    .await;
    assert!(persons.is_empty(), "{persons:?}");
}

/// A local community's followers on three instances. One is blocked by an entry with a
/// trailing dot: it gets nothing published after the block, and its own deliveries are
/// refused. Then, in allow-list mode, the one not listed is skipped by the send queue at
/// fetch time (its targets exist: only the queue's decision keeps them from going out),
/// and the listed one still gets everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_to_blocked_and_unlisted_instances_are_not_sent() {
    let (s, _t) = sluice_on_test_db(&env()).await;
    admin_ok(&s, &["community", "create", "main"]);
    let community = format!("{}/c/main", s.base);
    let blocked = TestPeer::start_on("127.0.0.43").await;
    let listed = TestPeer::start_on("127.0.0.44").await;
    let unlisted = TestPeer::start_on("127.0.0.45").await;
    for (n, peer) in [&blocked, &listed, &unlisted].into_iter().enumerate() {
        let member = peer.add_person("member").await;
        let follow = json!({
            "id": peer.url(&format!("/activities/follow/{n}")),
            "type": "Follow",
            "actor": member,
            "object": community,
            "to": [community],
        });
        deliver_202(peer, &format!("{community}/inbox"), &member, &follow).await;
        let accept = peer.wait_received(1, LIMIT).await.unwrap();
        assert_eq!(accept[0].activity_type.as_deref(), Some("Accept"));
        peer.clear_received();
    }

    // `127.0.0.43.:PORT`: the trailing dot is the host's; stored as `127.0.0.43:PORT`.
    let port = blocked.domain().rsplit_once(':').unwrap().1;
    admin_ok(&s, &["instance", "block", &format!("127.0.0.43.:{port}")]);
    let note = |n: u32| {
        json!({
            "actor": community,
            "to_followers_of": community,
            "activity": {
                "id": format!("{}/activities/announce/{n}", s.base),
                "type": "Announce",
                "actor": community,
                "to": [PUBLIC],
                "object": format!("{}/post/{n}", s.base),
            },
        })
    };
    let mut last = 0;
    for n in 1..=3 {
        let (st, v) = publish(&s.base, Some(TOKEN), &note(n)).await;
        assert_eq!(st, 202, "{v}");
        assert_eq!(v["targets"], 2, "the blocked instance is no target: {v}");
        last = v["id"].as_i64().unwrap();
    }
    wait_cursor(&s.base, listed.domain(), last).await;
    wait_cursor(&s.base, unlisted.domain(), last).await;
    assert_eq!(listed.received().len(), 3);
    assert_eq!(unlisted.received().len(), 3);
    assert!(blocked.received().is_empty(), "{:?}", blocked.received());
    let member = blocked.actor_id("member");
    let like = json!({"id": blocked.url("/activities/like/1"), "type": "Like",
        "actor": member, "object": format!("{}/post/1", s.base)});
    let refused = blocked
        .deliver(&format!("{}/inbox", s.base), &member, &like)
        .await
        .unwrap();
    assert_eq!(
        (refused.status, refused.rc().as_deref()),
        (403, Some("InstanceBlocked"))
    );

    // Allow-list mode: the unlisted instance keeps its targets, the queue skips them.
    admin_ok(&s, &["instance", "mode", "allowlist"]);
    admin_ok(
        &s,
        &["instance", "allow", &format!("HTTP://{}/", listed.domain())],
    );
    for n in 4..=5 {
        let (st, v) = publish(&s.base, Some(TOKEN), &note(n)).await;
        assert_eq!(st, 202, "{v}");
        assert_eq!(v["targets"], 2, "{v}");
        last = v["id"].as_i64().unwrap();
    }
    wait_cursor(&s.base, listed.domain(), last).await;
    wait_cursor(&s.base, unlisted.domain(), last).await;
    assert_eq!(listed.received().len(), 5);
    assert_eq!(
        unlisted.received().len(),
        3,
        "nothing sent after allow-list mode"
    );
    assert!(blocked.received().is_empty());
}

/// A follower whose actor document names inboxes on another instance (a victim's): the
/// pipeline stores the actor without them, so the community's Accept and its stream go to
/// the follower's own host; a row that still names the victim's inbox (stored before the
/// rule) is refused by the send queue with `InboxForeignHost`. The victim gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cannot_aim_the_community_stream_at_a_third_party() {
    let (s, t) = sluice_on_test_db(&env()).await;
    admin_ok(&s, &["community", "create", "main"]);
    let community = format!("{}/c/main", s.base);
    let mallory_peer = TestPeer::start_on("127.0.0.46").await;
    let victim = TestPeer::start_on("127.0.0.47").await;
    let mallory = mallory_peer.add_person("mallory").await;
    let mut doc = mallory_peer.actor_document("mallory");
    doc["inbox"] = json!(victim.shared_inbox());
    doc["endpoints"] = json!({"sharedInbox": victim.shared_inbox()});
    mallory_peer.serve_json(&mallory, doc);

    let follow = json!({
        "id": mallory_peer.url("/activities/follow/1"),
        "type": "Follow",
        "actor": mallory,
        "object": community,
        "to": [community],
    });
    deliver_202(
        &mallory_peer,
        &format!("{community}/inbox"),
        &mallory,
        &follow,
    )
    .await;
    assert_eq!(
        journal_end(&t.db, follow["id"].as_str().unwrap()).await,
        "done -"
    );
    let stored = texts(
        &t.db,
        format!(
            "SELECT inbox || ' ' || coalesce(shared_inbox, '-') AS v FROM person \
             WHERE ap_id = '{mallory}'"
        ),
    )
    .await;
    assert_eq!(stored, [format!("{mallory}/inbox -")]);
    let accept = mallory_peer.wait_received(1, LIMIT).await.unwrap();
    assert_eq!(accept[0].path, "/u/mallory/inbox");

    // A row from before the rule: the queue checks every inbox against the instance.
    exec(
        &t.db,
        format!(
            "UPDATE person SET inbox = '{v}', shared_inbox = '{v}' WHERE ap_id = '{mallory}'",
            v = victim.shared_inbox()
        ),
    )
    .await;
    let (st, v) = publish(
        &s.base,
        Some(TOKEN),
        &json!({
            "actor": community,
            "to_followers_of": community,
            "activity": {
                "id": format!("{}/activities/announce/1", s.base),
                "type": "Announce",
                "actor": community,
                "to": [PUBLIC],
                "object": format!("{}/post/1", s.base),
            },
        }),
    )
    .await;
    assert_eq!((st, &v["targets"]), (202, &json!(1)), "{v}");
    wait_cursor(&s.base, mallory_peer.domain(), v["id"].as_i64().unwrap()).await;
    let codes = texts(
        &t.db,
        "SELECT error_code || ' ' || inbox AS v FROM delivery_failure".into(),
    )
    .await;
    assert_eq!(
        codes,
        [format!("InboxForeignHost {}", victim.shared_inbox())]
    );
    assert!(victim.received().is_empty(), "{:?}", victim.received());
}
