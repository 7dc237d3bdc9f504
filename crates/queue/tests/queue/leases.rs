//! Several queues (processes) on one database: each instance is served by exactly one, the
//! share is balanced, and a crashed queue's instances move to the survivor.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use support::*;

const LIMIT: Duration = Duration::from_secs(40);

async fn owners(db: &sluice_db::Db, peers: &[TestPeer]) -> Vec<Option<String>> {
    let mut v = Vec::new();
    for p in peers {
        v.push(state(db, p.domain()).await.and_then(|s| s.lease_owner));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_shared_and_taken_over_when_a_process_dies() {
    let t = sluice_testkit::test_db().await;
    let alice = local_actor(&t.db, "alice").await;
    let mut peers = Vec::new();
    for _ in 0..4 {
        peers.push(trusting_peer(&t.db).await);
    }
    let inboxes: Vec<String> = peers.iter().map(|p| p.shared_inbox()).collect();
    let window = 4;
    let q1 = queue(&t.db, fast(window));
    let q2 = queue(&t.db, fast(window));
    let (n1, n2) = (q1.node_id().to_string(), q2.node_id().to_string());

    let batch = |from: usize| {
        (from..from + 10)
            .map(|n| {
                (
                    alice.clone(),
                    activity(&alice, n, &format!("http://x/o{}", n % 3)),
                )
            })
            .collect::<Vec<_>>()
    };
    enqueue(&t.db, batch(1), &inboxes).await;
    for p in &peers {
        p.wait_accepted(10, LIMIT).await.unwrap();
    }

    // Balanced: two instances each, every instance served by exactly one of them.
    let deadline = Instant::now() + LIMIT;
    loop {
        let o = owners(&t.db, &peers).await;
        let count = |n: &str| o.iter().filter(|x| x.as_deref() == Some(n)).count();
        let (s1, s2): (HashSet<String>, HashSet<String>) = (
            q1.serving().into_iter().collect(),
            q2.serving().into_iter().collect(),
        );
        if count(&n1) == 2 && count(&n2) == 2 && s1.len() == 2 && s2.len() == 2 {
            assert!(s1.is_disjoint(&s2), "{s1:?} and {s2:?} overlap");
            break;
        }
        assert!(Instant::now() < deadline, "not balanced: {o:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The first process dies without a word (tasks aborted, leases left to expire).
    drop(q1);
    enqueue(&t.db, batch(11), &inboxes).await;
    for p in &peers {
        let got = p.wait_accepted(20, LIMIT).await.unwrap();
        let mut times: HashMap<&String, usize> = HashMap::new();
        for id in &got {
            *times.entry(id).or_default() += 1;
        }
        assert_eq!(times.len(), 20, "every activity arrived");
        let again: usize = times.values().map(|n| n - 1).sum();
        assert!(again <= window, "re-sent {again} (more than the window)");
        assert_in_order_per_object(&p.received());
    }
    let deadline = Instant::now() + LIMIT;
    while owners(&t.db, &peers)
        .await
        .iter()
        .any(|o| o.as_deref() != Some(&n2))
    {
        assert!(
            Instant::now() < deadline,
            "survivor did not take everything over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A clean shutdown gives every lease back at once.
    q2.shutdown().await;
    assert!(owners(&t.db, &peers).await.iter().all(|o| o.is_none()));
}
