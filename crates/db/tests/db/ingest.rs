//! The pipeline's statements against a real PostgreSQL: they prepare, they are cached, and a
//! warmed connection pays one round-trip per lookup and two per write transaction.
//!
//! The counted part runs on a current-thread runtime with its own connection: the
//! connection's I/O task then shares the thread, so pipelined statements are all queued
//! before any leaves. (On a multi-thread runtime the I/O task may send the first ones and
//! read a local server's answer before the last are queued, an extra "flight" a database
//! milliseconds away would not see; see ARCHITECTURE.md, the ingestion pipeline.)

use futures::FutureExt;
use sluice_db::diesel_async::AsyncPgConnection;
use sluice_db::ingest::changes::{PersonUpsert, VoteChange};
use sluice_db::ingest::journal::{self, Mark, Verdict};
use sluice_db::ingest::{self, Changes, Keys};
use sluice_testkit::test_db;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn exec(db: &sluice_db::Db, sql: &'static str) {
    use sluice_db::diesel_async::RunQueryDsl;
    db.run("setup", move |c| sluice_db::sql(sql).execute(c).boxed())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmed_connection_claims_looks_up_and_writes_in_four_roundtrips() {
    let t = test_db().await;
    exec(
        &t.db,
        "INSERT INTO received_activity (activity_id, actor, kind, raw) VALUES \
         ('https://a.example/1', 'https://a.example/u/a', 'Like', '{}'), \
         ('https://a.example/2', 'https://a.example/u/a', 'Like', '{}')",
    )
    .await;
    let url = t.url.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(counted(url))
    })
    .join()
    .unwrap();
}

async fn counted(url: String) {
    let opts = sluice_db::PoolOptions {
        max_size: 1,
        ..Default::default()
    };
    let db = sluice_db::Db::connect(&url, opts).await.unwrap();
    let mut conn = db.get().await.unwrap();
    ingest::warm_up(&mut conn).await.unwrap();

    let before = conn.wire_roundtrips();
    let claimed = conn
        .run("claim", |c| {
            async move { journal::claim(c, 10, "test", 60.0).await }.boxed()
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed[0].id < claimed[1].id);
    assert_eq!(claimed[0].attempts, 1);

    let keys = Keys {
        ids: vec!["https://a.example/u/a".into()],
        domains: vec!["a.example".into()],
        votes: vec![(
            "https://a.example/u/a".into(),
            "https://a.example/p/1".into(),
        )],
        ..Keys::default()
    };
    let snap = conn
        .run("lookup", move |c| {
            async move { ingest::lookup::lookup(c, &keys, None).await }.boxed()
        })
        .await
        .unwrap();
    assert!(snap.persons.is_empty());
    assert_eq!(snap.policy.map(|p| p.mode).as_deref(), Some("open"));

    let mut ch = Changes {
        instances: vec!["a.example".into()],
        ..Changes::default()
    };
    ch.persons.push(PersonUpsert {
        ap_id: "https://a.example/u/a".into(),
        domain: "a.example".into(),
        name: "a".into(),
        display_name: None,
        summary: None,
        avatar: None,
        banner: None,
        inbox: "https://a.example/u/a/inbox".into(),
        shared_inbox: None,
        public_key_pem: None,
        bot: false,
        banned: false,
        deleted: false,
        published: None,
        updated: None,
    });
    ch.votes.push(VoteChange {
        person: "https://a.example/u/a".into(),
        object: "https://a.example/p/unknown".into(),
        on_post: true,
        score: 1,
        activity_id: None,
    });
    for (n, r) in claimed.iter().enumerate() {
        ch.journal.push(Mark {
            id: r.id,
            verdict: if n == 0 {
                Verdict::Done
            } else {
                Verdict::Retry
            },
            error_code: (n == 1).then(|| "FetchTimeout".into()),
            error: None,
            retry_in: 30.0,
            owner: "test".into(),
            needs_lease: true,
        });
    }
    conn.run_tx("write", move |c: &AsyncPgConnection| {
        ingest::write::write(c, &ch)
    })
    .await
    .unwrap();
    assert_eq!(
        conn.wire_roundtrips() - before,
        4,
        "claim 1 + lookup 1 + write 2"
    );

    // The retried row is not due yet; nothing else is pending.
    let again = conn
        .run("claim", |c| {
            async move { journal::claim(c, 10, "test", 60.0).await }.boxed()
        })
        .await
        .unwrap();
    assert!(again.is_empty());
    let pending = conn
        .run("pending", |c| {
            use sluice_db::diesel_async::RunQueryDsl;
            sluice_db::sql("SELECT count(*) AS n FROM received_activity WHERE state = 'pending'")
                .get_result::<Count>(c)
                .boxed()
        })
        .await
        .unwrap();
    assert_eq!(pending.n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_are_listed_and_replayed() {
    let t = test_db().await;
    exec(
        &t.db,
        "INSERT INTO received_activity (activity_id, actor, kind, raw, state, error_code) VALUES \
         ('https://a.example/1', 'https://a.example/u/a', 'Like', '{}', 'failed', 'FetchTimeout'), \
         ('https://a.example/2', 'https://a.example/u/a', 'Like', '{}', 'done', NULL)",
    )
    .await;
    let failed = journal::list_failed(&t.db, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error_code.as_deref(), Some("FetchTimeout"));
    assert!(journal::replay(&t.db, failed[0].head.id).await.unwrap());
    assert!(
        !journal::replay(&t.db, failed[0].head.id + 1).await.unwrap(),
        "a done row is not replayed"
    );
    assert!(journal::list_failed(&t.db, 10).await.unwrap().is_empty());
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Counts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    score: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    upvotes: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    downvotes: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    votes: i64,
}

fn one_vote(person: &str, object: &str, score: i16) -> Changes {
    Changes {
        votes: vec![VoteChange {
            person: person.into(),
            object: object.into(),
            on_post: true,
            score,
            activity_id: None,
        }],
        ..Changes::default()
    }
}

/// Two batches change one person's vote on one post at once, each from a view looked up
/// before the other wrote (two processes sharing the journal, or two processors of one):
/// batch A makes it +1 and has not committed yet when batch B, whose view also saw no vote,
/// makes it -1. The post's counts must still be what its vote rows say. (When each batch
/// moved the counts by what its own view saw, B moved the score by -1 instead of -2: the
/// score stayed 0 beside a -1 vote; the scale-out benchmark found it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_voting_on_one_post_keep_its_counts_exact() {
    let t = test_db().await;
    exec(&t.db, "INSERT INTO instance (domain) VALUES ('a.example')").await;
    exec(
        &t.db,
        "INSERT INTO person (ap_id, instance_id, name, inbox) SELECT \
         'https://a.example/u/alice', id, 'alice', 'https://a.example/u/alice/inbox' FROM instance",
    )
    .await;
    exec(
        &t.db,
        "INSERT INTO community (ap_id, instance_id, name, title, inbox) SELECT \
         'https://a.example/c/main', id, 'main', 'Main', 'https://a.example/c/main/inbox' \
         FROM instance",
    )
    .await;
    exec(
        &t.db,
        "INSERT INTO post (ap_id, community_id, creator_id, name) SELECT \
         'https://a.example/p/1', c.id, p.id, 'one' FROM community c, person p",
    )
    .await;
    let alice = "https://a.example/u/alice";
    let post = "https://a.example/p/1";

    // A: +1, transaction left open.
    let mut a = t.db.get().await.unwrap();
    let up = one_vote(alice, post, 1);
    a.run("a", move |c| {
        async move {
            use sluice_db::diesel_async::SimpleAsyncConnection;
            c.batch_execute("BEGIN").await?;
            ingest::write::write(c, &up).await
        }
        .boxed()
    })
    .await
    .unwrap();

    // B: -1, from a view without A's vote; it must wait for A.
    let db = t.db.clone();
    let b = tokio::spawn(async move {
        let down = one_vote(alice, post, -1);
        let mut b = db.get().await.unwrap();
        b.run_tx("b", move |c: &AsyncPgConnection| {
            ingest::write::write(c, &down)
        })
        .await
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting =
            t.db.run("waiting", |c| {
                use sluice_db::diesel_async::RunQueryDsl;
                sluice_db::sql(
                    "SELECT count(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .get_result::<Count>(c)
                .boxed()
            })
            .await
            .unwrap();
        if waiting.n > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "batch B never waited for batch A"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    a.run("commit", |c| {
        async move {
            use sluice_db::diesel_async::SimpleAsyncConnection;
            c.batch_execute("COMMIT").await
        }
        .boxed()
    })
    .await
    .unwrap();
    b.await.unwrap().unwrap();

    let counts =
        t.db.run("counts", |c| {
            use sluice_db::diesel_async::RunQueryDsl;
            sluice_db::sql(
                "SELECT p.score, p.upvotes, p.downvotes, \
                 (SELECT count(*) FROM vote v WHERE v.post_id = p.id) AS votes FROM post p",
            )
            .get_result::<Counts>(c)
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(
        counts,
        Counts {
            score: -1,
            upvotes: 0,
            downvotes: 1,
            votes: 1
        }
    );
}
