//! Faults against a real PostgreSQL: every failed statement is classified by its SQLSTATE
//! (transient or not), journal leases are fenced, renewed and freed, and the journal is
//! pruned.

use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::RunQueryDsl;
use futures::FutureExt;
use sluice_db::diesel_async::AsyncPgConnection;
use sluice_db::ingest::journal::{self, Mark, Verdict};
use sluice_db::ingest::{self, Changes};
use sluice_db::{Db, DbError, diesel, diesel_async};
use sluice_testkit::test_db;
use std::time::Duration;

async fn exec(db: &Db, sql: String) {
    let sql: &'static str = Box::leak(sql.into_boxed_str());
    db.run("setup", move |c| sluice_db::sql(sql).execute(c).boxed())
        .await
        .unwrap();
}

#[derive(diesel::QueryableByName)]
struct V {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    db.run("count", move |c| {
        sluice_db::sql(sql).get_result::<V>(c).boxed()
    })
    .await
    .unwrap()
    .v
}

/// Runs `sql` and returns its error.
async fn fail(db: &Db, sql: &'static str) -> DbError {
    db.run("fail", move |c| sluice_db::sql(sql).execute(c).boxed())
        .await
        .expect_err(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified_by_their_sqlstate() {
    let t = test_db().await;
    let raise = |code: &str| format!("DO 'BEGIN RAISE EXCEPTION USING ERRCODE = ''{code}''; END'");
    for (code, transient) in [
        ("40001", true),
        ("40P01", true),
        ("53300", true),
        ("57P03", true),
        ("08006", true),
        ("23505", false),
        ("42501", false),
    ] {
        let sql: &'static str = Box::leak(raise(code).into_boxed_str());
        let e = fail(&t.db, sql).await;
        assert_eq!(e.is_transient(), transient, "{code}: {e}");
        if transient {
            assert_eq!(e.sqlstate().map(|c| c.to_string()).as_deref(), Some(code));
        }
    }
    let e = fail(&t.db, "SELECT 1/0").await;
    assert!(!e.is_transient(), "division by zero: {e}");
    assert_eq!(e.class(), "query");
}

#[derive(diesel::QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// What `pg_terminate_backend` sends is what a fast shutdown sends every backend: FATAL
/// 57P01, "terminating connection due to administrator command", then the socket closes.
/// Whether the driver has seen the close when the error is classified is a race; the
/// classification must not depend on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrator_termination_is_transient_every_time() {
    let t = test_db().await;
    for round in 0..10 {
        let mut victim = t.db.get().await.unwrap();
        let pid = victim
            .run("pid", |c| {
                sluice_db::sql("SELECT pg_backend_pid() AS pid")
                    .get_result::<Pid>(c)
                    .boxed()
            })
            .await
            .unwrap()
            .pid;
        let sleeping = victim.run("sleep", |c| {
            sluice_db::sql("SELECT pg_sleep(30)").execute(c).boxed()
        });
        let killer = async {
            tokio::time::sleep(Duration::from_millis(50 + 10 * round)).await;
            t.db.run("terminate", move |c| {
                sluice_db::sql("SELECT pg_terminate_backend($1)")
                    .bind::<Integer, _>(pid)
                    .execute(c)
                    .boxed()
            })
            .await
            .unwrap();
        };
        let (r, ()) = futures::join!(sleeping, killer);
        let e = r.expect_err("the backend was terminated");
        assert!(e.is_transient(), "round {round}: {e:?}");
        assert_eq!(e.class(), "unavailable");
        // The dead connection is not handed out again: the next checkout works.
        drop(victim);
        assert_eq!(count(&t.db, "SELECT 1::bigint AS v").await, 1);
    }
    // A connection terminated while idle fails on its next use, also transient.
    let mut idle = t.db.get().await.unwrap();
    let pid = idle
        .run("pid", |c| {
            sluice_db::sql("SELECT pg_backend_pid() AS pid")
                .get_result::<Pid>(c)
                .boxed()
        })
        .await
        .unwrap()
        .pid;
    exec(&t.db, format!("SELECT pg_terminate_backend({pid})")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = idle
        .run("after", |c| sluice_db::sql("SELECT 1").execute(c).boxed())
        .await
        .expect_err("terminated");
    assert!(e.is_transient(), "{e:?}");
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    lease_owner: Option<String>,
}

async fn rows(db: &Db) -> Vec<Row> {
    db.run("rows", |c| {
        sluice_db::sql("SELECT id, state, lease_owner FROM received_activity ORDER BY id")
            .load(c)
            .boxed()
    })
    .await
    .unwrap()
}

async fn journal_rows(db: &Db, n: usize) {
    let values: Vec<String> = (0..n)
        .map(|i| format!("('https://a.example/{i}', 'https://a.example/u/a', 'Like', '{{}}')"))
        .collect();
    exec(
        db,
        format!(
            "INSERT INTO received_activity (activity_id, actor, kind, raw) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
}

fn done(id: i64, owner: &str, needs_lease: bool) -> Mark {
    Mark {
        id,
        verdict: Verdict::Done,
        error_code: None,
        error: None,
        retry_in: 0.0,
        owner: owner.into(),
        needs_lease,
    }
}

async fn write(db: &Db, ch: Changes) -> Result<(), DbError> {
    db.get()
        .await
        .unwrap()
        .run_tx("write", move |c: &AsyncPgConnection| {
            ingest::write::write(c, &ch)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_lease_was_lost_writes_nothing() {
    let t = test_db().await;
    journal_rows(&t.db, 3).await;
    let claimed =
        t.db.run("claim", |c| {
            async move { journal::claim(c, 10, "host:/data#1", 60.0).await }.boxed()
        })
        .await
        .unwrap();
    let ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 3);
    // The third row went to another process (our lease ran out meanwhile).
    exec(
        &t.db,
        format!(
            "UPDATE received_activity SET lease_owner = 'other#1' WHERE id = {}",
            ids[2]
        ),
    )
    .await;

    // The batch's write (with an outbound Accept) aborts as a whole.
    let mut ch = Changes::default();
    ch.outbound.push(sluice_db::outbound::NewOutbound {
        activity_id: "https://local.example/activities/accept/1".into(),
        actor_ap_id: "https://local.example/c/main".into(),
        raw: serde_json::json!({"type": "Accept"}),
        object_ap_id: None,
        audience: sluice_db::outbound::Audience::Inboxes(vec!["https://a.example/inbox".into()]),
    });
    ch.journal = ids
        .iter()
        .map(|id| done(*id, "host:/data#1", true))
        .collect();
    let e = write(&t.db, ch).await.expect_err("fenced");
    assert!(matches!(e, DbError::LeaseLost(_)), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(
        count(&t.db, "SELECT count(*) AS v FROM outbound_activity").await,
        0
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) AS v FROM received_activity WHERE state = 'pending'"
        )
        .await,
        3,
        "no row marked"
    );

    // Putting rows back (no lease needed) touches only the rows still ours.
    let ch = Changes {
        journal: ids
            .iter()
            .map(|id| done(*id, "host:/data#1", false))
            .collect(),
        ..Changes::default()
    };
    write(&t.db, ch).await.unwrap();
    let got = rows(&t.db).await;
    assert_eq!(got[0].state, "done");
    assert_eq!(got[1].state, "done");
    assert_eq!(
        (got[2].state.as_str(), got[2].lease_owner.as_deref()),
        ("pending", Some("other#1")),
        "the other process's row is left alone"
    );
}

#[derive(diesel::QueryableByName)]
struct Secs {
    #[diesel(sql_type = diesel::sql_types::Double)]
    s: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_renewed_by_their_owner_and_freed_by_its_next_run() {
    let t = test_db().await;
    journal_rows(&t.db, 4).await;
    // Rows 1-2 claimed by a previous run of this process, 3 by this run, 4 by another.
    for (id, owner) in [
        (1, "h:/d#old"),
        (2, "h:/d#old"),
        (3, "h:/d#new-1"),
        (4, "h:/e#x"),
    ] {
        exec(
            &t.db,
            format!(
                "UPDATE received_activity SET lease_owner = '{owner}', \
                 lease_until = now() + interval '10 seconds' WHERE id = {id}"
            ),
        )
        .await;
    }
    let ids = [1i64, 2, 3, 4];
    assert_eq!(
        journal::renew(&t.db, &ids, "h:/d#new-1", 600.0)
            .await
            .unwrap(),
        1
    );
    let left =
        t.db.run("left", |c| {
            sluice_db::sql(
                "SELECT EXTRACT(EPOCH FROM lease_until - now())::float8 AS s \
                 FROM received_activity WHERE id = 3",
            )
            .get_result::<Secs>(c)
            .boxed()
        })
        .await
        .unwrap()
        .s;
    assert!(left > 500.0, "renewed: {left}");

    // This process starts again as `h:/d#new`: only its previous run's leases are freed.
    assert_eq!(
        journal::release_stale(&t.db, "h:/d#", "h:/d#new")
            .await
            .unwrap(),
        2
    );
    let owners: Vec<Option<String>> = rows(&t.db)
        .await
        .into_iter()
        .map(|r| r.lease_owner)
        .collect();
    assert_eq!(
        owners,
        vec![None, None, Some("h:/d#new-1".into()), Some("h:/e#x".into())]
    );
    // Freed rows are claimable at once.
    let claimed =
        t.db.run("claim", |c| {
            async move { journal::claim(c, 10, "h:/d#new", 60.0).await }.boxed()
        })
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2]);
    // A processor's own leftovers (a batch that could not put its rows back) are due at
    // its next claim; another process's live lease is not.
    let claimed =
        t.db.run("claim", |c| {
            async move { journal::claim(c, 10, "h:/d#new-1", 60.0).await }.boxed()
        })
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_deletes_old_done_and_ignored_rows_in_batches() {
    let t = test_db().await;
    journal_rows(&t.db, 7).await;
    // 1-3 done and old, 4 ignored and old, 5 failed and old, 6 pending and old, 7 done, new.
    exec(
        &t.db,
        "UPDATE received_activity SET received_at = now() - interval '20 days', \
         state = CASE WHEN id <= 3 THEN 'done' WHEN id = 4 THEN 'ignored' \
                      WHEN id = 5 THEN 'failed' ELSE 'pending' END \
         WHERE id <= 6"
            .into(),
    )
    .await;
    exec(
        &t.db,
        "UPDATE received_activity SET state = 'done' WHERE id = 7".into(),
    )
    .await;
    let fourteen_days = 14.0 * 86400.0;
    assert_eq!(journal::prune(&t.db, fourteen_days, 3).await.unwrap(), 3);
    assert_eq!(journal::prune(&t.db, fourteen_days, 3).await.unwrap(), 1);
    assert_eq!(journal::prune(&t.db, fourteen_days, 3).await.unwrap(), 0);
    let left: Vec<(i64, String)> = rows(&t.db)
        .await
        .into_iter()
        .map(|r| (r.id, r.state))
        .collect();
    assert_eq!(
        left,
        vec![
            (5, "failed".into()),
            (6, "pending".into()),
            (7, "done".into())
        ]
    );
    // Journal ids are never reused, so ordering memory (which compares them) stays right.
    journal_rows_named(&t.db, "later").await;
    assert!(rows(&t.db).await.last().unwrap().id > 7);
}

async fn journal_rows_named(db: &Db, name: &str) {
    exec(
        db,
        format!(
            "INSERT INTO received_activity (activity_id, actor, kind, raw) VALUES \
             ('https://a.example/{name}', 'https://a.example/u/a', 'Like', '{{}}')"
        ),
    )
    .await;
}
