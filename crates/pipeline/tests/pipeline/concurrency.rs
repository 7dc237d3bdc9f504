//! Two processors (as in two sluice processes) on one database share a journal: every row
//! is done exactly once.

use crate::support;

use sluice_pipeline::Processor;
use std::time::Duration;
use support::{Harness, settings};
use support::{World, docs};

const R: &str = "http://r.example/c/main";
const P: &str = "http://r.example/post/1";

fn person(n: usize) -> String {
    format!("http://r.example/u/p{n}")
}

/// Runs batches until one claims nothing; returns the rows claimed.
async fn drain(mut p: Processor) -> usize {
    let mut claimed = 0;
    loop {
        let r = p.run_once().await.unwrap();
        if r.claimed == 0 {
            return claimed;
        }
        claimed += r.claimed;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processors_share_a_journal_without_doing_a_row_twice() {
    let mut s = settings();
    s.batch_size = 16;
    s.fetch_timeout = Duration::from_secs(10);
    let mut h = Harness::with("sluice.test", s).await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    for n in 0..10 {
        h.peer.serve(docs::person(&person(n)));
    }
    h.done(&docs::wrap(
        "Create",
        &person(0),
        docs::page(P, &person(0), R),
    ))
    .await;

    // The first batch waits for a slow fetch, so the second processor starts meanwhile.
    let slow = "http://r.example/post/slow";
    h.peer.serve(docs::page(slow, &person(0), R));
    h.peer.delay(slow, Duration::from_millis(1500));
    h.deliver(&docs::vote(&person(1), slow, 1)).await;
    let total = 160;
    for n in 0..total - 1 {
        let author = person(n % 10);
        let c = docs::note(&format!("http://r.example/comment/{n}"), &author, P, R);
        h.deliver(&docs::wrap("Create", &author, c)).await;
    }

    let a = tokio::spawn(drain(h.processor("node-a")));
    while !h.peer.hits().iter().any(|u| u == slow) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let b = tokio::spawn(drain(h.processor("node-b")));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());

    assert_eq!(a + b, total, "every row claimed once: {a} + {b}");
    assert!(a > 0 && b > 0, "both worked: {a} and {b}");
    assert_eq!(h.states().await, vec![("done".into(), total as i64 + 1)]);
    assert_eq!(
        h.count("SELECT count(*) AS v FROM received_activity WHERE attempts <> 1")
            .await,
        0,
        "no row was claimed twice"
    );
    assert_eq!(
        h.count("SELECT count(*) AS v FROM comment").await,
        total as i64 - 1
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 1);
}
