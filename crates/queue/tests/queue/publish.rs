//! The publish logic on a real database: checks, the followers audience, idempotency, and
//! what a publication does to the local tables.

use crate::support;

use serde_json::json;
use sluice_apub::{LocalUrls, Rc};
use sluice_pipeline::LocalEffects;
use sluice_queue::Signers;
use sluice_queue::publish::{PublishRequest, Published, Refusal, publish};
use std::sync::Arc;
use support::*;

fn urls() -> LocalUrls {
    LocalUrls::new(LOCAL, true).unwrap()
}

/// Local effects that never fetch.
fn effects() -> LocalEffects {
    LocalEffects::new(
        sluice_pipeline::PipelineConfig::default(),
        urls(),
        Arc::new(sluice_pipeline::Disabled),
    )
}

fn like(n: usize, actor: &str) -> serde_json::Value {
    activity(actor, n, "http://peer.test/post/1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_once_to_followers_and_to_inboxes() {
    let t = sluice_testkit::test_db().await;
    let signers = Signers::new(t.db.clone());
    let kp = sluice_apub::keypair::generate().unwrap();
    let community = format!("http://{LOCAL}/c/main");
    sluice_db::actors::create_local_community(
        &t.db,
        sluice_db::actors::NewLocalActor {
            domain: LOCAL.into(),
            name: "main".into(),
            title: None,
            ap_id: community.clone(),
            inbox: format!("{community}/inbox"),
            shared_inbox: format!("http://{LOCAL}/inbox"),
            followers_url: None,
            moderators_url: None,
            featured_url: None,
            key_id: format!("{community}#main-key"),
            public_key_pem: kp.public_pem,
            private_key_pem: kp.private_pem,
        },
    )
    .await
    .unwrap();
    // Two followers on one remote instance (one shared inbox), one on another.
    exec(
        &t.db,
        "WITH i AS (INSERT INTO instance (domain) VALUES ('a.test'), ('b.test') RETURNING id, domain),
         p AS (INSERT INTO person (ap_id, instance_id, name, inbox, shared_inbox)
               SELECT 'https://' || i.domain || '/u/' || n, i.id, 'u' || n,
                      'https://' || i.domain || '/u/' || n || '/inbox',
                      CASE WHEN i.domain = 'a.test' THEN 'https://a.test/inbox' END
               FROM i, generate_series(1, 2) n RETURNING id)
         INSERT INTO community_follow (community_id, person_id, state)
         SELECT c.id, p.id, 'accepted' FROM p, community c WHERE c.local",
    )
    .await;

    let announce = json!({"id": format!("http://{LOCAL}/activities/announce/1"), "type": "Announce",
        "actor": community, "object": {"type": "Page", "id": "http://peer.test/post/1"}});
    let req = PublishRequest {
        actor: community.clone(),
        activity: announce,
        to_followers_of: Some(community.clone()),
        inboxes: None,
    };
    let first = publish(&t.db, &signers, &effects(), &urls(), true, req.clone())
        .await
        .unwrap();
    assert_eq!(first.targets, 2, "one delivery per instance");
    assert!(!first.duplicate);
    let again = publish(&t.db, &signers, &effects(), &urls(), true, req)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.id, first.id, "logged once");

    // Two identical publishes at once: one append.
    let alice = local_actor(&t.db, "alice").await;
    let direct = PublishRequest {
        actor: alice.clone(),
        activity: like(7, &alice),
        to_followers_of: None,
        inboxes: Some(vec!["https://a.test/inbox".into()]),
    };
    let u = urls();
    let fx = effects();
    let (x, y) = tokio::join!(
        publish(&t.db, &signers, &fx, &u, true, direct.clone()),
        publish(&t.db, &signers, &fx, &u, true, direct.clone()),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.id, y.id);
    assert_eq!(
        [x.duplicate, y.duplicate].iter().filter(|d| **d).count(),
        1,
        "exactly one of them appended"
    );

    // An actor without a key, a community that does not exist here.
    let mut ghost = direct.clone();
    ghost.actor = actor("ghost");
    ghost.activity = like(8, &actor("ghost"));
    assert_eq!(
        publish(&t.db, &signers, &effects(), &urls(), true, ghost)
            .await
            .unwrap_err()
            .rc,
        Rc::ActorNotLocal
    );
    let nobody = PublishRequest {
        actor: alice.clone(),
        activity: like(9, &alice),
        to_followers_of: Some(format!("http://{LOCAL}/c/nope")),
        inboxes: None,
    };
    assert_eq!(
        publish(&t.db, &signers, &effects(), &urls(), true, nobody)
            .await
            .unwrap_err()
            .rc,
        Rc::AudienceInvalid
    );
}

/// alice (local) votes on a local post, the same Like twice, at once; then on a deleted post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_vote_counts_once_and_a_refused_one_is_not_sent() {
    let t = sluice_testkit::test_db().await;
    let signers = Signers::new(t.db.clone());
    let alice = local_actor(&t.db, "alice").await;
    let post = format!("http://{LOCAL}/post/1");
    let gone = format!("http://{LOCAL}/post/2");
    exec_sql(
        &t.db,
        format!(
            "WITH i AS (INSERT INTO instance (domain) VALUES ('{LOCAL}') RETURNING id),
             p AS (INSERT INTO person (ap_id, instance_id, local, name, inbox)
                   SELECT '{alice}', i.id, true, 'alice', '{alice}/inbox' FROM i RETURNING id),
             c AS (INSERT INTO community (ap_id, instance_id, local, name, title, inbox)
                   SELECT 'http://{LOCAL}/c/main', i.id, true, 'main', 'Main',
                          'http://{LOCAL}/c/main/inbox' FROM i RETURNING id)
             INSERT INTO post (ap_id, community_id, creator_id, local, name, deleted)
             SELECT x.ap_id, c.id, p.id, true, 'a post', x.deleted
             FROM c, p, (VALUES ('{post}', false), ('{gone}', true)) AS x(ap_id, deleted)"
        ),
    )
    .await;
    let like = |n: usize, object: &str| PublishRequest {
        actor: alice.clone(),
        activity: activity(&alice, n, object),
        to_followers_of: None,
        inboxes: Some(vec!["https://a.test/inbox".into()]),
    };
    let (u, fx) = (urls(), effects());
    let (x, y) = tokio::join!(
        publish(&t.db, &signers, &fx, &u, true, like(1, &post)),
        publish(&t.db, &signers, &fx, &u, true, like(1, &post)),
    );
    let mut both: Vec<Published> = vec![x.unwrap(), y.unwrap()];
    both.sort_by_key(|p| p.duplicate);
    assert!(both[0].applied && !both[0].duplicate, "{both:?}");
    assert!(both[1].duplicate && !both[1].applied, "{both:?}");
    let again = publish(&t.db, &signers, &fx, &u, true, like(1, &post))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(score(&t.db, &post).await, "1 1 0 votes=1");

    // A new Like of the same post by the same person changes nothing (one vote each).
    let same = publish(&t.db, &signers, &fx, &u, true, like(2, &post))
        .await
        .unwrap();
    assert!(same.applied && !same.duplicate);
    assert_eq!(score(&t.db, &post).await, "1 1 0 votes=1");

    let refused: Refusal = publish(&t.db, &signers, &fx, &u, true, like(3, &gone))
        .await
        .unwrap_err();
    assert_eq!(refused.rc, Rc::LocalEffectRefused, "{refused}");
    assert!(refused.message.contains("ObjectDeleted"), "{refused}");
    assert_eq!(score(&t.db, &gone).await, "0 0 0 votes=0");
    let logged = text(
        &t.db,
        format!("SELECT count(*)::text AS v FROM outbound_activity WHERE activity_id = 'http://{LOCAL}/activities/3'"),
    )
    .await;
    assert_eq!(logged, "0", "a refused publication is not sent");

    // A vote on something unknown here is sent, and changes nothing here.
    let elsewhere = publish(
        &t.db,
        &signers,
        &fx,
        &u,
        true,
        like(4, "https://a.test/post/9"),
    )
    .await
    .unwrap();
    assert!(!elsewhere.applied);
    assert_eq!(elsewhere.not_kept.as_deref(), Some("UnknownObject"));
}

async fn score(db: &sluice_db::Db, post: &str) -> String {
    let q = format!(
        "SELECT (SELECT score || ' ' || upvotes || ' ' || downvotes FROM post WHERE ap_id = '{post}')
            || ' votes=' || (SELECT count(*) FROM vote v JOIN post p ON p.id = v.post_id
                             WHERE p.ap_id = '{post}') AS v"
    );
    text(db, q).await
}

/// Moderation of a local community by local actors: its moderator's Lock applies and is
/// logged; the same Lock by a local user who is not a moderator is refused and not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderators_lock_applies_and_a_non_moderators_is_refused() {
    let t = sluice_testkit::test_db().await;
    let signers = Signers::new(t.db.clone());
    let (alice, mallory) = (
        local_actor(&t.db, "alice").await,
        local_actor(&t.db, "mallory").await,
    );
    let post = format!("http://{LOCAL}/post/1");
    exec_sql(
        &t.db,
        format!(
            "WITH i AS (INSERT INTO instance (domain) VALUES ('{LOCAL}') RETURNING id),
             p AS (INSERT INTO person (ap_id, instance_id, local, name, inbox)
                   SELECT x.ap_id, i.id, true, x.name, x.ap_id || '/inbox'
                   FROM i, (VALUES ('{alice}', 'alice'), ('{mallory}', 'mallory')) AS x(ap_id, name)
                   RETURNING id, ap_id),
             c AS (INSERT INTO community (ap_id, instance_id, local, name, title, inbox)
                   SELECT 'http://{LOCAL}/c/main', i.id, true, 'main', 'Main',
                          'http://{LOCAL}/c/main/inbox' FROM i RETURNING id),
             m AS (INSERT INTO community_moderator (community_id, person_id)
                   SELECT c.id, p.id FROM c, p WHERE p.ap_id = '{alice}')
             INSERT INTO post (ap_id, community_id, creator_id, local, name)
             SELECT '{post}', c.id, p.id, true, 'a post' FROM c, p WHERE p.ap_id = '{mallory}'"
        ),
    )
    .await;
    let lock = |who: &str, n: usize| PublishRequest {
        actor: who.to_string(),
        activity: json!({"id": format!("http://{LOCAL}/activities/lock/{n}"), "type": "Lock",
            "actor": who, "object": post, "audience": format!("http://{LOCAL}/c/main")}),
        to_followers_of: None,
        inboxes: Some(vec!["https://a.test/inbox".into()]),
    };
    let (u, fx) = (urls(), effects());
    let locked = format!(
        "SELECT p.locked::text || ' ' || (SELECT count(*) FROM mod_action WHERE kind = 'lock_post') AS v \
         FROM post p WHERE p.ap_id = '{post}'"
    );

    let refused = publish(&t.db, &signers, &fx, &u, true, lock(&mallory, 1))
        .await
        .unwrap_err();
    assert_eq!(refused.rc, Rc::LocalEffectRefused, "{refused}");
    assert!(refused.message.contains("NotPermitted"), "{refused}");
    assert_eq!(text(&t.db, locked.clone()).await, "false 0");

    let done = publish(&t.db, &signers, &fx, &u, true, lock(&alice, 2))
        .await
        .unwrap();
    assert!(done.applied, "{done:?}");
    assert_eq!(text(&t.db, locked).await, "true 1");
}

/// A local user's post in a local community, created, edited and deleted through the
/// publish API, is stored as the pipeline stores a remote member's (and marked local).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_users_post_is_created_edited_and_deleted_here() {
    let t = sluice_testkit::test_db().await;
    let signers = Signers::new(t.db.clone());
    let alice = local_actor(&t.db, "alice").await;
    let community = format!("http://{LOCAL}/c/main");
    exec_sql(
        &t.db,
        format!(
            "WITH i AS (INSERT INTO instance (domain) VALUES ('{LOCAL}') RETURNING id),
             p AS (INSERT INTO person (ap_id, instance_id, local, name, inbox)
                   SELECT '{alice}', i.id, true, 'alice', '{alice}/inbox' FROM i)
             INSERT INTO community (ap_id, instance_id, local, name, title, inbox)
             SELECT '{community}', i.id, true, 'main', 'Main', '{community}/inbox' FROM i"
        ),
    )
    .await;
    let post = format!("http://{LOCAL}/post/1");
    let page = |name: &str, at: &str| {
        json!({"type": "Page", "id": post, "attributedTo": alice, "audience": community,
            "to": [community, "https://www.w3.org/ns/activitystreams#Public"],
            "name": name, "published": "2026-12-01T10:00:00Z", "updated": at})
    };
    let to_followers = |n: usize, activity: serde_json::Value| PublishRequest {
        actor: alice.clone(),
        activity: {
            let mut a = activity;
            a["id"] = json!(format!("http://{LOCAL}/activities/{n}"));
            a["actor"] = json!(alice);
            a
        },
        to_followers_of: Some(community.clone()),
        inboxes: None,
    };
    let (u, fx) = (urls(), effects());
    let row = format!(
        "SELECT p.name || ' local=' || p.local || ' deleted=' || p.deleted || ' in ' || c.ap_id AS v \
         FROM post p JOIN community c ON c.id = p.community_id WHERE p.ap_id = '{post}'"
    );
    let steps = [
        (
            json!({"type": "Create", "object": page("first", "2026-12-01T10:00:00Z")}),
            "first local=true deleted=false",
        ),
        (
            json!({"type": "Update", "object": page("second", "2026-12-01T11:00:00Z")}),
            "second local=true deleted=false",
        ),
        (
            json!({"type": "Delete", "object": post}),
            "second local=true deleted=true",
        ),
    ];
    for (n, (activity, want)) in steps.into_iter().enumerate() {
        let done = publish(&t.db, &signers, &fx, &u, true, to_followers(n, activity))
            .await
            .unwrap();
        assert!(done.applied, "{done:?}");
        assert_eq!(
            text(&t.db, row.clone()).await,
            format!("{want} in {community}")
        );
    }
}
