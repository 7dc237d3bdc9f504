//! A batch that runs longer than its lease keeps its rows: it renews the lease while it
//! runs, so another processor cannot claim them and apply them a second time.

use crate::support;

use std::time::Duration;
use support::{Harness, settings};
use support::{World, docs};

const R: &str = "http://r.example/c/main";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_longer_than_its_lease_renews_it_and_keeps_its_rows() {
    let mut s = settings();
    // Renewed every 0.6 s; the batch below takes 4 s.
    s.lease = Duration::from_millis(1800);
    s.fetch_timeout = Duration::from_secs(10);
    let mut h = Harness::with("sluice.test", s).await;
    let alice = h.local_person("alice").await;
    h.remote_community(R, Some(&alice)).await;
    let author = "http://r.example/u/author";
    h.peer.serve(docs::person(author));
    let slow = "http://r.example/post/slow";
    h.peer.serve(docs::page(slow, author, R));
    h.peer.delay(slow, Duration::from_secs(4));
    let id = h.deliver(&docs::vote(author, slow, 1)).await;

    let mut other = h.processor("node-other");
    let first = tokio::spawn({
        let mut p = h.processor("node-first");
        async move { p.run_once().await }
    });
    // Past the lease, twice, while the first batch waits on its fetch: nothing to claim.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1900)).await;
        let r = other.run_once().await.unwrap();
        assert_eq!(r.claimed, 0, "the running batch's row was claimed again");
    }
    let r = first.await.unwrap().unwrap();
    assert_eq!((r.claimed, r.done), (1, 1), "{r:?}");
    let row = h.row(id).await;
    assert_eq!(row.state, "done");
    assert_eq!(
        h.count("SELECT attempts::bigint AS v FROM received_activity")
            .await,
        1,
        "claimed once"
    );
    assert_eq!(h.count("SELECT count(*) AS v FROM vote").await, 1);
}
