//! The authority rules as a hostile peer meets them (`docs/security.md`): a remote
//! community's Announce vouches only for its own community's content, votes and moderation;
//! remote input never changes our actors, communities or keys; keys come only from their
//! owner's own document; a Delete of an unseen object counts only from its origin.

use crate::support;

use serde_json::{Value, json};
use support::{Harness, World, docs};

const DOMAIN: &str = "sluice.test";
/// A remote community a local user follows: its Announces are kept.
const R: &str = "http://r.example/c/main";
const A: &str = "http://r.example/u/a";
const MALLORY: &str = "http://r.example/u/mallory";
/// A person on a third instance.
const VICTIM: &str = "http://v.example/u/victim";
const ATTACKER_PEM: &str = "-----BEGIN PUBLIC KEY-----\nATTACKER\n-----END PUBLIC KEY-----\n";

async fn harness() -> Harness {
    let mut h = Harness::new(DOMAIN).await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    h.peer.serve(docs::person(A));
    h.peer.serve(docs::person(MALLORY));
    h.peer.serve(docs::person(VICTIM));
    h
}

/// `community` announcing `inner`.
fn announce(community: &str, inner: Value) -> Value {
    json!({
        "id": format!("{}/activities/announce/{:016x}", docs::origin(community), rand::random::<u64>()),
        "type": "Announce",
        "actor": community,
        "to": [docs::PUBLIC],
        "cc": [format!("{community}/followers")],
        "object": inner,
    })
}

/// An activity of `kind` by `actor` with its id on `actor`'s host.
fn activity(kind: &str, actor: &str, object: Value) -> Value {
    json!({
        "id": format!("{}/activities/{}/{:016x}", docs::origin(actor), kind.to_lowercase(), rand::random::<u64>()),
        "type": kind,
        "actor": actor,
        "to": [docs::PUBLIC],
        "object": object,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_delete_of_our_local_community_changes_nothing() {
    let mut h = harness().await;
    let ours = h.local_community("main").await;
    let deleted = format!("SELECT deleted OR removed AS v FROM community WHERE ap_id = '{ours}'");

    // The inner actor is our own community: a remote community cannot speak for it.
    let by_ours = activity("Delete", &ours, json!(ours));
    h.ignored(&announce(R, by_ours), "NotAnnounceable").await;
    assert!(!h.flag(&deleted).await);

    // A remote actor deleting our community, announced by its own community.
    let by_remote = docs::delete(A, &ours);
    let row = h.step(&announce(R, by_remote.clone())).await;
    assert_eq!(row.state, "ignored", "{row:?}");
    assert!(!h.flag(&deleted).await);

    // Nor directly, with a reason (a removal) or without.
    let mut removal = docs::delete(A, &ours);
    removal["summary"] = json!("gone");
    h.ignored(&removal, "NotPermitted").await;
    h.ignored(&by_remote, "NotPermitted").await;
    assert!(!h.flag(&deleted).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_update_of_a_third_partys_person_stores_neither_key_nor_profile() {
    let mut h = harness().await;
    // The victim is known with the key of its own document.
    let post = "http://v.example/post/1";
    h.done(&docs::wrap("Create", VICTIM, docs::page(post, VICTIM, R)))
        .await;
    let key = format!("SELECT public_key_pem AS v FROM remote_key WHERE owner_ap_id = '{VICTIM}'");
    let real = h.text(&key).await.expect("the victim's key was stored");
    let profile = format!(
        "SELECT coalesce(display_name, '') || '|' || coalesce(public_key_pem, '') AS v \
         FROM person WHERE ap_id = '{VICTIM}'"
    );
    let before = h.text(&profile).await;

    let mut forged = docs::person(VICTIM);
    forged["name"] = json!("pwned");
    forged["publicKey"]["publicKeyPem"] = json!(ATTACKER_PEM);
    forged["updated"] = json!("2099-01-01T00:00:00Z");
    // As if the victim sent it (its id on the victim's host), relayed by a community.
    let as_victim = activity("Update", VICTIM, forged.clone());
    h.ignored(&announce(R, as_victim), "NotAnnounceable").await;
    // By the attacker, relayed.
    let as_mallory = activity("Update", MALLORY, forged.clone());
    h.ignored(&announce(R, as_mallory.clone()), "NotAnnounceable")
        .await;
    // By the attacker, directly.
    h.ignored(&as_mallory, "NotPermitted").await;
    assert_eq!(h.text(&key).await.as_deref(), Some(real.as_str()));
    assert_eq!(h.text(&profile).await, before);
    assert_eq!(
        h.count("SELECT count(*) AS v FROM remote_key WHERE public_key_pem LIKE '%ATTACKER%'")
            .await,
        0
    );

    // The victim's own Update, sent directly: the profile changes, the key does not (keys
    // come only from the owner's own document, fetched).
    h.done(&activity("Update", VICTIM, forged)).await;
    assert_eq!(
        h.text(&format!(
            "SELECT display_name AS v FROM person WHERE ap_id = '{VICTIM}'"
        ))
        .await
        .as_deref(),
        Some("pwned")
    );
    assert_eq!(h.text(&key).await.as_deref(), Some(real.as_str()));
    assert_eq!(
        h.count("SELECT count(*) AS v FROM person WHERE public_key_pem LIKE '%ATTACKER%'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_an_unseen_post_counts_only_from_its_origin() {
    let mut h = harness().await;
    let evil = "http://evil.example/u/mallory";
    h.peer.serve(docs::person(evil));
    let future = "http://r.example/post/9";
    h.ignored(&docs::delete(evil, future), "UnknownObject")
        .await;
    assert_eq!(
        h.count("SELECT count(*) AS v FROM ingest_memory WHERE key LIKE 'delete %'")
            .await,
        0,
        "not remembered"
    );
    // A Delete remembered before this rule, from another host, is not honoured either.
    let older = "http://r.example/post/10";
    h.exec(format!(
        "INSERT INTO ingest_memory (key, journal_id, activity_id) \
         VALUES ('delete {older}', 1, 'http://evil.example/activities/delete/1')"
    ))
    .await;
    // The real posts, announced later by their community, are stored.
    for p in [future, older] {
        let create = docs::wrap("Create", A, docs::page(p, A, R));
        h.done(&announce(R, create)).await;
    }
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) AS v FROM post WHERE ap_id IN ('{future}', '{older}') AND NOT deleted"
        ))
        .await,
        2
    );

    // The origin's own Delete of an unseen post is remembered, and wins over a late Create.
    let origin = "http://r.example/post/11";
    h.ignored(&docs::delete(A, origin), "UnknownObject").await;
    let create = docs::wrap("Create", A, docs::page(origin, A, R));
    h.ignored(&create, "ObjectDeleted").await;
    // An Undo of someone else's remembered Delete does not make it forgotten.
    let origin2 = "http://r.example/post/12";
    h.ignored(&docs::delete(A, origin2), "UnknownObject").await;
    let theirs = docs::delete(evil, origin2);
    h.ignored(&docs::undo(&theirs), "NothingToUndo").await;
    let create = docs::wrap("Create", A, docs::page(origin2, A, R));
    h.ignored(&create, "ObjectDeleted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actor_level_verbs_inside_an_announce_are_ignored_with_an_rc() {
    let mut h = harness().await;
    let ours = h.local_community("ours").await;
    let bob = h.local_person("bob").await;
    let post = "http://r.example/post/1";
    h.done(&docs::wrap("Create", A, docs::page(post, A, R)))
        .await;
    // A follow of ours that its Accept/Reject could touch.
    h.exec(format!(
        "INSERT INTO community_follow (community_id, person_id, state, activity_id) \
         SELECT c.id, p.id, 'pending', 'http://sluice.test/activities/follow/1' \
         FROM community c, person p WHERE c.ap_id = '{R}' AND p.ap_id = '{bob}'"
    ))
    .await;
    let follow_of_r = json!({
        "id": "http://sluice.test/activities/follow/1", "type": "Follow",
        "actor": bob, "object": R,
    });
    let follow = docs::follow(A, &ours);
    let carried = [
        // Update and Delete of a person (its own account).
        activity("Update", A, docs::person(A)),
        activity("Delete", A, json!(A)),
        // A site ban by the person's own instance.
        json!({
            "id": "http://r.example/activities/block/1", "type": "Block", "actor": MALLORY,
            "object": A, "target": "http://r.example/",
        }),
        json!({
            "id": "http://r.example/activities/undo/2", "type": "Undo", "actor": MALLORY,
            "object": {"id": "http://r.example/activities/block/2", "type": "Block",
                "actor": MALLORY, "object": A, "target": "http://r.example/"},
        }),
        // Follows and their answers.
        follow.clone(),
        docs::undo(&follow),
        activity("Accept", R, follow_of_r.clone()),
        activity("Reject", R, follow_of_r),
        // A report.
        json!({
            "id": "http://r.example/activities/flag/1", "type": "Flag", "actor": MALLORY,
            "object": [post], "to": [R], "summary": "spam",
        }),
        // A private message to a local user.
        activity(
            "Create",
            A,
            json!({
                "id": "http://r.example/private_message/1", "type": "ChatMessage",
                "attributedTo": A, "to": [bob], "content": "hi",
            }),
        ),
        // An Announce inside an Announce.
        announce(
            R,
            docs::wrap("Create", A, docs::page("http://r.example/post/2", A, R)),
        ),
    ];
    for inner in carried {
        let row = h.step(&announce(R, inner.clone())).await;
        assert_eq!(
            (row.state.as_str(), row.error_code.as_deref()),
            ("ignored", Some("NotAnnounceable")),
            "{inner}: {row:?}"
        );
    }
    assert!(
        !h.flag(&format!(
            "SELECT banned OR deleted AS v FROM person WHERE ap_id = '{A}'"
        ))
        .await
    );
    for table in ["ban", "report", "private_message"] {
        assert_eq!(
            h.count(&format!("SELECT count(*) AS v FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        h.text("SELECT string_agg(state, ',') AS v FROM community_follow")
            .await
            .as_deref(),
        Some("accepted,pending"),
        "alice's follow, and bob's still pending"
    );
    assert_eq!(
        h.count("SELECT count(*) AS v FROM post WHERE ap_id = 'http://r.example/post/2'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_moderation_belongs_to_the_announcing_community() {
    let mut h = harness().await;
    let other = "http://r.example/c/other";
    let alice = h.urls.person("alice");
    h.remote_community(other, Some(&alice)).await;
    let post = "http://r.example/post/1";
    h.done(&docs::wrap("Create", A, docs::page(post, A, R)))
        .await;
    // `other` relays a lock of `R`'s post by an admin of their instance.
    let lock = activity("Lock", MALLORY, json!(post));
    h.ignored(&announce(other, lock.clone()), "CommunityMismatch")
        .await;
    // and an update of `R`'s profile.
    let mut profile = docs::group(R);
    profile["name"] = json!("hijacked");
    h.ignored(
        &announce(other, activity("Update", MALLORY, profile.clone())),
        "CommunityMismatch",
    )
    .await;
    assert!(
        !h.flag(&format!(
            "SELECT locked AS v FROM post WHERE ap_id = '{post}'"
        ))
        .await
    );
    // Its own community relays both: applied (the admin is of the community's instance).
    h.done(&announce(R, lock)).await;
    h.done(&announce(R, activity("Update", MALLORY, profile)))
        .await;
    assert!(
        h.flag(&format!(
            "SELECT locked AS v FROM post WHERE ap_id = '{post}'"
        ))
        .await
    );
    assert_eq!(
        h.text(&format!(
            "SELECT title AS v FROM community WHERE ap_id = '{R}'"
        ))
        .await
        .as_deref(),
        Some("hijacked")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writes_themselves_never_change_local_rows() {
    use sluice_db::ingest::changes::{Changes, CommunityFlags, KeyUpsert, PersonFlags};
    let mut h = harness().await;
    let ours = h.local_community("main").await;
    let bob = h.local_person("bob").await;
    h.exec(format!(
        "INSERT INTO local_key (actor_ap_id, key_id, public_key_pem, private_key_pem) \
         VALUES ('{bob}', '{bob}#main-key', 'REAL', 'PRIVATE')"
    ))
    .await;
    // What a rule missed upstream could hand the write: our community deleted, our user
    // banned, keys for both.
    let changes = Changes {
        community_flags: vec![CommunityFlags {
            ap_id: ours.clone(),
            deleted: true,
            removed: true,
        }],
        person_flags: vec![PersonFlags {
            ap_id: bob.clone(),
            banned: true,
            deleted: true,
        }],
        keys: [&ours, &bob]
            .iter()
            .map(|o| KeyUpsert {
                key_id: format!("{o}#main-key"),
                owner: o.to_string(),
                pem: ATTACKER_PEM.into(),
            })
            .collect(),
        ..Changes::default()
    };
    let mut conn = h.t.db.get().await.unwrap();
    conn.run_tx("test_write", move |c| {
        sluice_db::ingest::write::write(c, &changes)
    })
    .await
    .unwrap();
    assert!(
        !h.flag(&format!(
            "SELECT deleted OR removed AS v FROM community WHERE ap_id = '{ours}'"
        ))
        .await
    );
    assert!(
        !h.flag(&format!(
            "SELECT banned OR deleted AS v FROM person WHERE ap_id = '{bob}'"
        ))
        .await
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM remote_key").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_not_addressed_to_the_public_is_not_stored_as_community_content() {
    let mut h = harness().await;
    let mut page = docs::page("http://r.example/post/private", A, R);
    page["to"] = json!([R]);
    page["cc"] = json!([format!("{A}/followers")]);
    h.ignored(&docs::wrap("Create", A, page), "NotForUs").await;
    assert_eq!(h.count("SELECT count(*) AS v FROM post").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_activity_is_judged_before_anything_is_fetched_for_it() {
    let mut h = harness().await;
    // Its id is not on its actor's host, so it would be fetched from its origin: a Follow
    // is refused by its shape first, and nothing is fetched.
    let follow = json!({
        "id": "http://elsewhere.example/activities/follow/1", "type": "Follow",
        "actor": A, "object": R,
    });
    let before = h.peer.hits().len();
    h.ignored(&announce(R, follow), "NotAnnounceable").await;
    assert_eq!(h.peer.hits().len(), before);
}

/// The processor holds the instance policy across batches (read again only when
/// `policy_generation` moves): a block entered after it has run still takes effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_policy_change_takes_effect_at_the_next_batch() {
    let mut h = harness().await;
    let post = "http://r.example/post/1";
    h.done(&docs::wrap("Create", A, docs::page(post, A, R)))
        .await;
    h.done(&docs::vote(A, post, 1)).await;
    sluice_db::instances::set_policy(
        &h.t.db,
        &sluice_trust::host::InstanceHost::parse("R.example.").unwrap(),
        sluice_db::instances::Policy::Block,
        None,
    )
    .await
    .unwrap();
    h.ignored(&docs::vote(MALLORY, post, 1), "PolicyBlocked")
        .await;
    sluice_db::instances::set_policy(
        &h.t.db,
        &sluice_trust::host::InstanceHost::parse("r.example").unwrap(),
        sluice_db::instances::Policy::None,
        None,
    )
    .await
    .unwrap();
    h.done(&docs::vote(MALLORY, post, -1)).await;
}

/// A forwarded row (signed by someone other than its actor) is applied as its origin serves
/// it at its id, never as the forwarder sent it; one its origin does not serve is not applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_activity_is_applied_as_its_origin_serves_it() {
    let mut h = harness().await;
    let post = "http://r.example/post/1";
    h.done(&docs::wrap("Create", A, docs::page(post, A, R)))
        .await;
    let forwarder = "http://f.example/u/fwd";
    // The origin serves A's Like; the forwarder's copy says Dislike.
    let served = docs::vote(A, post, 1);
    h.peer.serve(served.clone());
    let mut sent = served.clone();
    sent["type"] = json!("Dislike");
    let genuine = h.deliver(&sent).await;
    // MALLORY's "vote", which r.example does not serve.
    let forged = h.deliver(&docs::vote(MALLORY, post, -1)).await;
    h.exec(format!(
        "UPDATE received_activity SET signer = '{forwarder}' WHERE id IN ({genuine}, {forged})"
    ))
    .await;
    h.run().await;
    assert_eq!(h.row(genuine).await.state, "done");
    let row = h.row(forged).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref()),
        ("ignored", Some("ForwardUnverified")),
        "{row:?}"
    );
    assert_eq!(
        h.count("SELECT sum(score)::bigint AS v FROM vote").await,
        1,
        "the origin's Like, and nothing from the forgery"
    );
}
