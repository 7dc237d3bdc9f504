//! Appending to the outbound log resolves the audience once, per instance.

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use futures::FutureExt;
use serde_json::json;
use sluice_db::outbound::{Audience, NewOutbound, append};
use sluice_db::{diesel, diesel_async};
use sluice_testkit::test_db;

async fn exec(db: &sluice_db::Db, sql: &'static str) {
    db.run("setup", move |c| sluice_db::sql(sql).execute(c).boxed())
        .await
        .unwrap();
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Target {
    #[diesel(sql_type = BigInt)]
    outbound_id: i64,
    #[diesel(sql_type = Text)]
    domain: String,
    #[diesel(sql_type = Text)]
    inboxes: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_are_grouped_per_instance_and_inboxes_per_host() {
    let t = test_db().await;
    exec(
        &t.db,
        "INSERT INTO instance (id, domain, policy) VALUES (1, 'local.example', 'none'), \
         (2, 'a.example', 'none'), (3, 'b.example', 'none'), (4, 'blocked.example', 'block')",
    )
    .await;
    exec(
        &t.db,
        "INSERT INTO community (id, ap_id, instance_id, local, name, title, inbox) VALUES \
         (1, 'https://local.example/c/main', 1, true, 'main', 'Main', 'https://local.example/c/main/inbox')",
    )
    .await;
    exec(
        &t.db,
        "INSERT INTO person (id, ap_id, instance_id, local, name, inbox, shared_inbox) VALUES \
         (1, 'https://a.example/u/1', 2, false, 'a1', 'https://a.example/u/1/inbox', 'https://a.example/inbox'), \
         (2, 'https://a.example/u/2', 2, false, 'a2', 'https://a.example/u/2/inbox', 'https://a.example/inbox'), \
         (3, 'https://b.example/u/3', 3, false, 'b3', 'https://b.example/u/3/inbox', NULL), \
         (4, 'https://blocked.example/u/4', 4, false, 'x', 'https://blocked.example/u/4/inbox', NULL), \
         (5, 'https://local.example/u/5', 1, true, 'me', 'https://local.example/u/5/inbox', NULL), \
         (6, 'https://b.example/u/6', 3, false, 'b6', 'https://b.example/u/6/inbox', NULL)",
    )
    .await;
    exec(
        &t.db,
        "INSERT INTO community_follow (community_id, person_id, state) VALUES \
         (1, 1, 'accepted'), (1, 2, 'accepted'), (1, 3, 'accepted'), (1, 4, 'accepted'), (1, 5, 'accepted'), (1, 6, 'pending')",
    )
    .await;

    // The rows above were given explicit ids; move the sequences past them.
    exec(&t.db, "SELECT setval('instance_id_seq', 100), setval('person_id_seq', 100), setval('community_id_seq', 100)").await;

    let items = vec![
        NewOutbound {
            activity_id: "https://local.example/activities/announce/1".into(),
            actor_ap_id: "https://local.example/c/main".into(),
            raw: json!({"type": "Announce"}),
            object_ap_id: Some("https://a.example/post/1".into()),
            audience: Audience::FollowersOf("https://local.example/c/main".into()),
        },
        NewOutbound {
            activity_id: "https://local.example/activities/accept/2".into(),
            actor_ap_id: "https://local.example/c/main".into(),
            raw: json!({"type": "Accept"}),
            object_ap_id: None,
            audience: Audience::Inboxes(vec![
                "https://new.example/u/9/inbox".into(),
                "https://blocked.example/u/4/inbox".into(),
            ]),
        },
    ];
    let replay = items.clone();
    let mut conn = t.db.get().await.unwrap();
    let appended = conn
        .run_tx("append", move |c| {
            async move { append(c, &items).await }.boxed()
        })
        .await
        .unwrap();
    // The same write again (a batch replayed after its lease was lost): nothing appended,
    // nothing targeted twice.
    let again = conn
        .run_tx("append_again", move |c| {
            async move { append(c, &replay).await }.boxed()
        })
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "a replayed append appends nothing: {again:?}"
    );
    assert_eq!(appended.len(), 2);
    assert!(
        appended[0].id < appended[1].id,
        "send order follows the input order"
    );
    assert_eq!(
        appended[0].targets, 2,
        "a.example once (shared inbox) and b.example; not blocked, not local, not pending"
    );
    assert_eq!(
        appended[1].targets, 1,
        "the new instance only; the blocked one gets nothing"
    );

    let targets: Vec<Target> = t
        .db
        .run("targets", |c| {
            sluice_db::sql(
                "SELECT t.outbound_id, i.domain, array_to_string(t.inboxes, ',') AS inboxes \
                 FROM outbound_target t JOIN instance i ON i.id = t.instance_id ORDER BY t.outbound_id, i.domain",
            )
            .load(c)
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(targets.len(), 3, "each target once: {targets:?}");
    let got: Vec<(String, String)> = targets.into_iter().map(|t| (t.domain, t.inboxes)).collect();
    assert_eq!(
        got,
        vec![
            ("a.example".into(), "https://a.example/inbox".into()),
            ("b.example".into(), "https://b.example/u/3/inbox".into()),
            ("new.example".into(), "https://new.example/u/9/inbox".into()),
        ]
    );
}

/// A host written another way (case, trailing dot, default port) is the same instance, under
/// the same policy; a relay of an allow-list origin's content is narrowed whichever way its
/// actor's id spells the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_are_matched_in_their_normal_form() {
    let t = test_db().await;
    for sql in [
        "INSERT INTO instance (id, domain, policy) VALUES (1, 'local.example', 'none'), \
         (2, 'a.example', 'none'), (3, 'b.example', 'none'), (4, 'blocked.example', 'block'), \
         (5, 'origin.example', 'none')",
        "INSERT INTO community (id, ap_id, instance_id, local, name, title, inbox) VALUES \
         (1, 'https://local.example/c/main', 1, true, 'main', 'Main', 'https://local.example/c/main/inbox')",
        "INSERT INTO person (id, ap_id, instance_id, local, name, inbox, shared_inbox) VALUES \
         (1, 'https://a.example/u/1', 2, false, 'a1', 'https://a.example/u/1/inbox', NULL), \
         (2, 'https://b.example/u/2', 3, false, 'b2', 'https://b.example/u/2/inbox', NULL)",
        "INSERT INTO community_follow (community_id, person_id, state) VALUES \
         (1, 1, 'accepted'), (1, 2, 'accepted')",
        "INSERT INTO origin_federation (origin, allowlist) VALUES ('origin.example', true)",
        "INSERT INTO origin_allowed (origin, domain) VALUES ('origin.example', 'a.example')",
        "SELECT setval('instance_id_seq', 100), setval('person_id_seq', 100), \
         setval('community_id_seq', 100)",
    ] {
        exec(&t.db, sql).await;
    }

    let relay = |n: u32, actor: serde_json::Value| NewOutbound {
        activity_id: format!("https://local.example/activities/announce/{n}"),
        actor_ap_id: "https://local.example/c/main".into(),
        raw: json!({"type": "Announce", "object": {"type": "Create", "actor": actor}}),
        object_ap_id: None,
        audience: Audience::FollowersOf("https://local.example/c/main".into()),
    };
    let items = vec![
        relay(1, json!("https://Origin.Example.:443/u/x")),
        relay(2, json!({"id": "https://origin.example/u/x"})),
        relay(3, json!("https://elsewhere.example/u/y")),
        NewOutbound {
            activity_id: "https://local.example/activities/accept/4".into(),
            actor_ap_id: "https://local.example/c/main".into(),
            raw: json!({"type": "Accept"}),
            object_ap_id: None,
            audience: Audience::Inboxes(vec![
                "https://BLOCKED.example.:443/u/4/inbox".into(),
                "https://A.Example:443/u/1/inbox".into(),
                "not a url".into(),
            ]),
        },
    ];
    let appended =
        t.db.get()
            .await
            .unwrap()
            .run_tx("append", move |c| {
                async move { append(c, &items).await }.boxed()
            })
            .await
            .unwrap();
    let targets: Vec<usize> = appended.iter().map(|a| a.targets as usize).collect();
    assert_eq!(
        targets,
        vec![1, 1, 2, 1],
        "the origin's relays go to a.example only, whatever the spelling; another actor's to \
         both followers; the Accept to a.example, never to the blocked instance: {appended:?}"
    );

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let instances: Vec<Count> =
        t.db.run("instances", |c| {
            sluice_db::sql("SELECT count(*) AS n FROM instance")
                .load(c)
                .boxed()
        })
        .await
        .unwrap();
    assert_eq!(
        instances[0].n, 5,
        "no second row for a second spelling of a host"
    );
}
