//! The central claim: a batch of 64 activities whose actors and objects are known costs at
//! most 4 database round-trips (claim 1, lookup 1, write 2), counted on the wire.
//!
//! The processor prepares every statement when it takes its connection (`warm_up`), so the
//! measured batch pays no prepare round-trip: that is what every batch after the first
//! costs in production.
//!
//! The measured processor runs on a current-thread runtime with its own connection, so the
//! connection's I/O task shares its thread: the statements of a flight are all queued before
//! any is written. On a multi-thread runtime the I/O task can write the first statements,
//! and read a local server's answer to them, before the last are queued; the wire counter
//! then sees an extra flight that a remote database (milliseconds away, where the counts
//! matter) would not cause.

use crate::support;

use serde_json::json;
use sluice_db::{Db, PoolOptions};
use sluice_pipeline::{BatchReport, Processor};
use std::sync::Arc;
use support::Harness;
use support::{World, docs};

const R: &str = "http://r.example/c/main";

fn person(n: usize) -> String {
    format!("http://r.example/u/p{n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_64_known_activities_costs_four_roundtrips() {
    let mut h = Harness::new("sluice.test").await;
    let alice = h.local_person("alice").await;
    let local = h.local_community("local").await;
    h.remote_community(R, Some(&alice)).await;
    for n in 0..8 {
        h.peer.serve(docs::person(&person(n)));
    }
    // Known state: 8 posts (half in the local community), a comment under each.
    let post = |n: usize| format!("http://r.example/post/{n}");
    let comment = |n: usize| format!("http://r.example/comment/{n}");
    let community = |n: usize| if n < 4 { R.to_string() } else { local.clone() };
    for n in 0..8 {
        let p = docs::page(&post(n), &person(n), &community(n));
        h.deliver(&docs::wrap("Create", &person(n), p)).await;
    }
    for n in 0..8 {
        let author = person((n + 1) % 8);
        let c = docs::note(&comment(n), &author, &post(n), &community(n));
        h.deliver(&docs::wrap("Create", &author, c)).await;
    }
    let first = h.run().await;
    assert_eq!((first.claimed, first.done), (16, 16), "{first:?}");

    // 64 activities about known actors and objects, of every common kind.
    let mut batch = Vec::new();
    for n in 0..8 {
        batch.push(docs::follow(&person(n), &local));
    }
    for n in 0..8 {
        for k in 1..=3 {
            let score = if k == 2 { -1 } else { 1 };
            batch.push(docs::vote(&person(n), &post((n + k) % 8), score));
        }
    }
    for n in 0..16 {
        let author = person(n % 8);
        let c = docs::note(
            &format!("http://r.example/comment/new{n}"),
            &author,
            &post(n % 8),
            &community(n % 8),
        );
        batch.push(docs::wrap("Create", &author, c));
    }
    for n in 0..8 {
        let mut p = docs::page(&post(n), &person(n), &community(n));
        p["name"] = json!(format!("edited {n}"));
        p["updated"] = json!("2030-01-01T00:00:00Z");
        batch.push(docs::wrap("Update", &person(n), p));
    }
    for n in 0..8 {
        let author = person((n + 1) % 8);
        batch.push(docs::delete(&author, &comment(n)));
    }
    assert_eq!(batch.len(), 64);
    for a in &batch {
        h.deliver(a).await;
    }
    let fetches = h.peer.hits().len();

    let r = measured_batch(&h);
    assert_eq!((r.claimed, r.done), (64, 64), "{r:?}");
    assert!(
        r.roundtrips <= 4,
        "{} round-trips for 64 activities",
        r.roundtrips
    );
    assert_eq!(r.roundtrips, 4, "claim 1 + lookup 1 + write 2");
    assert_eq!(h.peer.hits().len(), fetches, "nothing was fetched");

    // And it all landed.
    assert_eq!(
        h.count("SELECT count(*) AS v FROM community_follow WHERE state = 'accepted' AND person_id IN (SELECT id FROM person WHERE NOT local)")
            .await,
        8
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 24);
    assert_eq!(h.count("SELECT sum(score)::bigint AS v FROM post").await, 8);
    assert_eq!(h.count("SELECT count(*) AS v FROM comment").await, 24);
    assert_eq!(
        h.count("SELECT count(*) AS v FROM comment WHERE deleted")
            .await,
        8
    );
    assert_eq!(
        h.count("SELECT count(*) AS v FROM post WHERE name LIKE 'edited %'")
            .await,
        8
    );
    // Accepts, and the local community's Announces of what its members sent it.
    assert_eq!(
        h.count("SELECT count(*) AS v FROM outbound_activity WHERE raw->>'type' = 'Accept'")
            .await,
        8
    );
    assert!(
        h.count("SELECT count(*) AS v FROM outbound_activity WHERE raw->>'type' = 'Announce'")
            .await
            > 0
    );
}

/// One batch by a processor on its own current-thread runtime and connection.
fn measured_batch(h: &Harness) -> BatchReport {
    let (url, settings, urls, peer) = (
        h.t.url.clone(),
        h.settings.clone(),
        h.urls.clone(),
        h.peer.clone(),
    );
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let opts = PoolOptions {
                max_size: 1,
                ..PoolOptions::default()
            };
            let db = Db::connect(&url, opts).await.unwrap();
            let mut p = Processor::new(db, settings, Arc::new(peer.fetcher()), urls);
            p.warm_up().await.unwrap();
            p.run_once().await.unwrap()
        })
    })
    .join()
    .unwrap()
}
