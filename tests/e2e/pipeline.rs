//! The ingestion pipeline inside `sluice serve` on journal rows written directly, and the
//! journal admin commands. (Every fixture over HTTP with signed deliveries: `fixtures.rs`;
//! two processes sharing the journal: `shared_journal.rs`.)

use crate::support::{admin_ok, exec, sluice_on_test_db};
use futures::FutureExt;
use sluice_db::diesel;
use sluice_db::diesel_async::RunQueryDsl;
use std::time::{Duration, Instant};

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    error_code: Option<String>,
}

async fn row(db: &sluice_db::Db, activity_id: &str) -> Row {
    let sql = format!(
        "SELECT state, error_code FROM received_activity WHERE activity_id = '{activity_id}'"
    );
    db.run("e2e_row", move |c| {
        diesel::sql_query(sql).get_result::<Row>(c).boxed()
    })
    .await
    .unwrap()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(db: &sluice_db::Db, sql: &'static str) -> i64 {
    db.run("e2e_count", move |c| {
        diesel::sql_query(sql).get_result::<Count>(c).boxed()
    })
    .await
    .unwrap()
    .n
}

async fn wait_for(db: &sluice_db::Db, activity_id: &str, state: &str) -> Row {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = row(db, activity_id).await;
        if r.state == state || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_applies_journal_rows_and_admins_replay_failures() {
    let (s, t) = sluice_on_test_db(&[]).await;
    assert!(s.admin(&["community", "create", "main"]).status.success());
    let community = format!("{}/c/main", s.base);
    // A remote member already known (no fetch needed), and its Follow as the receiver
    // journals it.
    exec(
        &t.db,
        "INSERT INTO instance (domain) VALUES ('r.example')".into(),
    )
    .await;
    exec(
        &t.db,
        "INSERT INTO person (ap_id, instance_id, name, inbox) SELECT 'https://r.example/u/x', id, \
         'x', 'https://r.example/u/x/inbox' FROM instance WHERE domain = 'r.example'"
            .into(),
    )
    .await;
    let follow = format!(
        r#"{{"id": "https://r.example/activities/follow/1", "type": "Follow", "actor": "https://r.example/u/x", "object": "{community}"}}"#
    );
    exec(
        &t.db,
        format!(
            "INSERT INTO received_activity (activity_id, actor, kind, raw) VALUES \
             ('https://r.example/activities/follow/1', 'https://r.example/u/x', 'Follow', '{follow}')"
        ),
    )
    .await;
    let r = wait_for(&t.db, "https://r.example/activities/follow/1", "done").await;
    assert_eq!(r.state, "done", "{:?}", r.error_code);
    // Answered with an Accept through the send queue's log.
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) AS n FROM outbound_activity WHERE raw->>'type' = 'Accept'"
        )
        .await,
        1
    );

    // A failed row: listed with its rc, replayed, then processed again.
    exec(
        &t.db,
        "INSERT INTO received_activity (activity_id, actor, kind, raw, state, error_code, error) \
         VALUES ('https://r.example/activities/move/1', 'https://r.example/u/x', 'Move', \
         '{\"id\": \"https://r.example/activities/move/1\", \"type\": \"Move\", \"actor\": \"https://r.example/u/x\", \"object\": \"https://r.example/u/x\"}', \
         'failed', 'FetchTimeout', 'gave up after 5 attempts')"
            .into(),
    )
    .await;
    let out = s.admin(&["journal", "failed"]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.contains("FetchTimeout"), "{listed}");
    assert!(
        listed.contains("https://r.example/activities/move/1"),
        "{listed}"
    );
    let id = listed.split_whitespace().next().unwrap().to_string();
    admin_ok(&s, &["journal", "replay", &id]);
    let r = wait_for(&t.db, "https://r.example/activities/move/1", "ignored").await;
    assert_eq!(
        (r.state.as_str(), r.error_code.as_deref()),
        ("ignored", Some("UnsupportedActivity"))
    );
    // An unknown id is an error, on one line.
    let out = s.admin(&["journal", "replay", "999999"]);
    assert!(!out.status.success());
}
