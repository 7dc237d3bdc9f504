//! Failure handling: transient trouble is retried with backoff up to a bound, then the row
//! is `failed` with an rc and kept for replay; one bad activity never blocks the rest of its
//! batch.

use crate::support;

use serde_json::json;
use sluice_db::ingest::journal;
use std::time::Duration;
use support::{Harness, settings};
use support::{World, docs};

const R: &str = "http://r.example/c/main";
const A: &str = "http://r.example/u/a";
const B: &str = "http://r.example/u/b";
const P: &str = "http://r.example/post/1";

async fn harness(max_attempts: u32) -> Harness {
    let mut s = settings();
    s.max_attempts = max_attempts;
    s.fetch_timeout = Duration::from_secs(1);
    let mut h = Harness::with("sluice.test", s).await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    h.peer.serve(docs::person(A));
    h.peer.serve(docs::person(B));
    h.done(&docs::wrap("Create", A, docs::page(P, A, R))).await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_activity_is_retried_then_failed_without_holding_up_the_rest() {
    let mut h = harness(2).await;
    // Its object's server never answers in time.
    let slow = "http://r.example/post/slow";
    h.peer.delay(slow, Duration::from_secs(30));
    let poison = h.deliver(&docs::vote(B, slow, 1)).await;
    let good = [
        docs::vote(B, P, 1),
        docs::vote(A, P, -1),
        docs::wrap(
            "Create",
            B,
            docs::note("http://r.example/comment/1", B, P, R),
        ),
    ];
    for a in &good {
        h.deliver(a).await;
    }
    let first = h.run().await;
    assert_eq!(
        (first.claimed, first.done, first.retried),
        (4, 3, 1),
        "the others are applied in the same batch: {first:?}"
    );
    let row = h.row(poison).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref(), row.attempts),
        ("pending", Some("FetchTimeout"), 1)
    );
    // Its second attempt is its last.
    let second = h.run().await;
    assert_eq!((second.claimed, second.failed), (1, 1), "{second:?}");
    let row = h.row(poison).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref()),
        ("failed", Some("FetchTimeout"))
    );
    assert!(row.error.unwrap().contains("gave up after 2 attempts"));
    assert_eq!(h.run().await.claimed, 0, "no error loop");

    // The dead-letter list shows it; once its server is back, a replay applies it.
    let failed = journal::list_failed(&h.t.db, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].head.id, poison);
    h.peer.undelay(slow);
    h.peer.serve(docs::page(slow, A, R));
    assert!(journal::replay(&h.t.db, poison).await.unwrap());
    assert_eq!(h.run().await.done, 1);
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_activities_end_with_their_rc_and_the_rest_is_applied() {
    let mut h = harness(5).await;
    let cases = [
        // Malformed: a Like without an object.
        (
            json!({"id": "http://r.example/a/1", "type": "Like", "actor": B}),
            "failed",
            "MalformedActivity",
        ),
        (
            json!({"id": "http://r.example/a/2", "type": "Move", "actor": B, "object": B}),
            "ignored",
            "UnsupportedActivity",
        ),
        // Content of another host, sent by this one.
        (
            docs::wrap("Create", A, docs::page("http://evil.example/post/1", A, R)),
            "failed",
            "HostMismatch",
        ),
        // An actor its own server does not know.
        (
            docs::vote("http://r.example/u/nobody", P, 1),
            "failed",
            "FetchNotFound",
        ),
        (docs::vote(B, P, 1), "done", ""),
    ];
    let mut ids = Vec::new();
    for (a, _, _) in &cases {
        ids.push(h.deliver(a).await);
    }
    let r = h.run().await;
    assert_eq!(r.claimed, 5);
    for ((_, state, rc), id) in cases.iter().zip(ids) {
        let row = h.row(id).await;
        assert_eq!(row.state, *state, "{row:?}");
        assert_eq!(row.error_code.unwrap_or_default(), *rc);
    }
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_keeps_crashing_its_process_ends_failed() {
    let mut h = harness(3).await;
    let id = h.deliver(&docs::vote(B, P, 1)).await;
    // Claimed three times by processes that died before finishing.
    h.exec(format!(
        "UPDATE received_activity SET attempts = 3 WHERE id = {id}"
    ))
    .await;
    assert_eq!(h.run().await.failed, 1);
    assert_eq!(
        h.row(id).await.error_code.as_deref(),
        Some("AttemptsExhausted")
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_database_refuses_is_isolated_from_its_batch() {
    let mut h = harness(5).await;
    // The database refuses one post (as a constraint or trigger of the instance might).
    h.exec(
        "CREATE FUNCTION refuse_post() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused by a trigger'; END $$"
            .into(),
    )
    .await;
    h.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON post FOR EACH ROW \
         WHEN (NEW.ap_id = 'http://r.example/post/refused') EXECUTE FUNCTION refuse_post()"
            .into(),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let id = if n == 3 {
            "http://r.example/post/refused".to_string()
        } else {
            format!("http://r.example/post/ok{n}")
        };
        ids.push(
            h.deliver(&docs::wrap("Create", A, docs::page(&id, A, R)))
                .await,
        );
    }
    let r = h.run().await;
    assert_eq!((r.claimed, r.done, r.failed), (6, 5, 1), "{r:?}");
    let row = h.row(ids[3]).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref()),
        ("failed", Some("Internal"))
    );
    assert_eq!(
        h.count("SELECT count(*) AS v FROM post WHERE ap_id LIKE '%/ok%'")
            .await,
        5
    );
}
