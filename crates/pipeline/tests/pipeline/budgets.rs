//! What one activity can cost us (`docs/security.md`, "Budgets"): the ids one document
//! makes us look up and fetch are bounded, fetches are budgeted per activity and per batch,
//! and an activity over its budget is deferred to the slow lane while the rest of its batch
//! is applied.

use crate::support;

use serde_json::json;
use support::{Harness, World, docs, settings};

const R: &str = "http://r.example/c/main";
const A: &str = "http://r.example/u/a";
const B: &str = "http://r.example/u/b";
const P: &str = "http://r.example/post/1";

async fn harness(per_activity: usize, per_batch: usize) -> Harness {
    let mut s = settings();
    s.fetch_per_activity = per_activity;
    s.fetch_per_batch = per_batch;
    let mut h = Harness::with("sluice.test", s).await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    h.peer.serve(docs::person(A));
    h.peer.serve(docs::person(B));
    h.done(&docs::wrap("Create", A, docs::page(P, A, R))).await;
    h
}

fn spam_hits(h: &Harness) -> usize {
    h.peer
        .hits()
        .iter()
        .filter(|u| u.starts_with("http://spam.example/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_with_5000_addressees_costs_a_bounded_number_of_fetches() {
    let mut h = harness(32, 1000).await;
    // A post whose document names 5,000 would-be communities (none of them ours).
    let big = "http://r.example/post/big";
    let mut page = docs::page(big, A, R);
    let cc: Vec<String> = (0..5000)
        .map(|n| format!("http://spam.example/c/{n}"))
        .collect();
    page["to"] = json!([docs::PUBLIC]);
    page["cc"] = json!(cc);
    page.as_object_mut().map(|m| m.remove("audience"));
    h.peer.serve(page.clone());
    let vote_big = h.deliver(&docs::vote(B, big, 1)).await;
    let create_big = h.deliver(&docs::wrap("Create", A, page)).await;
    // The batch's other activities.
    let others = [
        h.deliver(&docs::vote(B, P, 1)).await,
        h.deliver(&docs::vote(A, P, -1)).await,
        h.deliver(&docs::wrap(
            "Create",
            B,
            docs::note("http://r.example/comment/1", B, P, R),
        ))
        .await,
    ];
    let r = h.run().await;
    assert_eq!(r.claimed, 5, "{r:?}");
    let hits = spam_hits(&h);
    assert!(hits <= 8, "{hits} fetches for one document's addressees");
    for id in others {
        assert_eq!(h.row(id).await.state, "done");
    }
    for id in [vote_big, create_big] {
        let row = h.row(id).await;
        assert_ne!(row.state, "done", "{row:?}");
    }
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 2);
    assert_eq!(h.count("SELECT count(*) AS v FROM comment").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_over_its_budget_is_deferred_and_the_batch_applied() {
    // Each unknown reply chain needs one fetch per level and per author.
    let mut h = harness(3, 1000).await;
    let deep: Vec<String> = (0..6)
        .map(|n| format!("http://r.example/comment/d{n}"))
        .collect();
    h.peer.serve(docs::note(&deep[0], A, P, R));
    for n in 1..deep.len() {
        h.peer.serve(docs::note(&deep[n], A, &deep[n - 1], R));
    }
    let leaf = "http://r.example/comment/leaf";
    let poison = h
        .deliver(&docs::wrap("Create", B, docs::note(leaf, B, &deep[5], R)))
        .await;
    let good = h.deliver(&docs::vote(B, P, 1)).await;
    let r = h.run().await;
    assert_eq!((r.claimed, r.done, r.retried), (2, 1, 1), "{r:?}");
    assert_eq!(h.row(good).await.state, "done");
    let row = h.row(poison).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref()),
        ("pending", Some("FetchBudget"))
    );
    // In the slow lane, alone, it spends at most its budget again.
    let before = h.peer.hits().len();
    let r = h.run().await;
    assert_eq!(r.claimed, 1, "{r:?}");
    assert!(h.peer.hits().len() - before <= 3);
    assert_eq!(
        h.row(poison).await.error_code.as_deref(),
        Some("FetchBudget")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_spends_at_most_its_fetch_budget() {
    let mut h = harness(32, 2).await;
    let strangers: Vec<String> = (0..6).map(|n| format!("http://r.example/u/s{n}")).collect();
    for s in &strangers {
        h.peer.serve(docs::person(s));
    }
    let before = h.peer.hits().len();
    for s in &strangers {
        h.deliver(&docs::vote(s, P, 1)).await;
    }
    let r = h.run().await;
    assert_eq!(r.claimed, 6, "{r:?}");
    assert_eq!(h.peer.hits().len() - before, 2, "the batch's budget");
    assert_eq!((r.done, r.retried), (2, 4), "{r:?}");
    assert_eq!(
        h.count(
            "SELECT count(*) AS v FROM received_activity WHERE error_code = 'FetchBudget' \
             AND state = 'pending'"
        )
        .await,
        4
    );
}
