//! The publish logic on a real database: checks, the followers audience, idempotency.

mod support;

use serde_json::json;
use sluice_apub::{LocalUrls, Rc};
use sluice_queue::Signers;
use sluice_queue::publish::{PublishRequest, publish};
use support::*;

fn urls() -> LocalUrls {
    LocalUrls::new(LOCAL, true).unwrap()
}

fn like(n: usize, actor: &str) -> serde_json::Value {
    activity(actor, n, "http://peer.test/post/1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_once_to_followers_and_to_inboxes() {
    let t = sluice_testkit::test_db().await;
    let signers = Signers::new(t.db.clone());
    let kp = sluice_apub::keys::generate().unwrap();
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
    let first = publish(&t.db, &signers, &urls(), true, req.clone())
        .await
        .unwrap();
    assert_eq!(first.targets, 2, "one delivery per instance");
    assert!(!first.duplicate);
    let again = publish(&t.db, &signers, &urls(), true, req).await.unwrap();
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
    let (x, y) = tokio::join!(
        publish(&t.db, &signers, &u, true, direct.clone()),
        publish(&t.db, &signers, &u, true, direct.clone()),
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
        publish(&t.db, &signers, &urls(), true, ghost)
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
        publish(&t.db, &signers, &urls(), true, nobody)
            .await
            .unwrap_err()
            .rc,
        Rc::AudienceInvalid
    );
}
