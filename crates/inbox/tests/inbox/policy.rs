//! Instance policy (block, allow-list, reload without restart), backpressure, and what a
//! sender sees when our database is down.

use crate::support::{Answer, Harness, like, with_alice};
use sluice_db::instances::{self, Mode, Policy};
use sluice_testkit::peer::TestPeer;
use std::time::{Duration, Instant};

fn host(domain: &str) -> sluice_trust::host::InstanceHost {
    sluice_trust::host::InstanceHost::parse(domain).unwrap()
}

/// Delivers fresh Likes until the answer's status is `want` (the background probe runs
/// every 100 ms here), or panics after 10 s. Counts the accepted ones in `accepted`.
async fn eventually(
    h: &Harness,
    peer: &TestPeer,
    actor: &str,
    want: u16,
    accepted: &mut usize,
) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = h.receive(peer, actor, &like(peer, actor)).await;
        if a.status == 202 {
            *accepted += 1;
        }
        if a.status == want {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "still {} ({}), want {want}",
            a.status,
            a.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_changes_apply_without_a_restart() {
    let (h, peer, alice) = with_alice(|c| c.refresh_interval = Duration::from_millis(100)).await;
    assert_eq!(h.like(&peer, &alice).await, 202);
    let mut accepted = 1;
    let db = &h.t.db;

    instances::set_policy(db, &host(peer.domain()), Policy::Block, Some("spam"))
        .await
        .unwrap();
    let a = eventually(&h, &peer, &alice, 403, &mut accepted).await;
    assert_eq!(a.rc(), "InstanceBlocked");

    instances::set_policy(db, &host(peer.domain()), Policy::None, None)
        .await
        .unwrap();
    eventually(&h, &peer, &alice, 202, &mut accepted).await;

    // Allow-list mode: an unlisted instance is refused, a listed one accepted.
    instances::set_mode(db, Mode::Allowlist).await.unwrap();
    let a = eventually(&h, &peer, &alice, 403, &mut accepted).await;
    assert_eq!(a.rc(), "InstanceNotAllowed");
    instances::set_policy(db, &host(peer.domain()), Policy::Allow, None)
        .await
        .unwrap();
    eventually(&h, &peer, &alice, 202, &mut accepted).await;
    instances::set_mode(db, Mode::Open).await.unwrap();

    // Refused deliveries left nothing behind: only the accepted ones are in the journal.
    assert_eq!(h.journal().await.len(), accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_too_far_behind_answers_429_with_retry_after() {
    let (h, peer, alice) = with_alice(|c| {
        c.refresh_interval = Duration::from_secs(3600);
        c.backpressure_depth = 2;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(h.like(&peer, &alice).await, 202);
    }
    // Nothing processes the journal in this test: 3 pending rows > 2.
    h.inbox.refresh_now().await.unwrap();
    let a = h.receive(&peer, &alice, &like(&peer, &alice)).await;
    assert_eq!((a.status, a.rc()), (429, "Backpressure"), "{}", a.body);
    assert_eq!(a.retry_after.as_deref(), Some("30"));
    assert_eq!(h.journal().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_so_the_sender_retries() {
    let (h, peer, alice) = with_alice(|c| c.refresh_interval = Duration::from_secs(3600)).await;
    assert_eq!(h.like(&peer, &alice).await, 202);

    // The database disappears under the running inbox (its connections are terminated).
    let name = h.t.name.clone();
    let admin = sluice_db::Db::connect(&sluice_testkit::server_url(), Default::default())
        .await
        .unwrap();
    admin
        .run("test_drop_db", move |c| {
            Box::pin(async move {
                use sluice_db::diesel_async::SimpleAsyncConnection;
                c.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                    .await
            })
        })
        .await
        .unwrap();
    for _ in 0..3 {
        let a = h.receive(&peer, &alice, &like(&peer, &alice)).await;
        assert_eq!(
            (a.status, a.rc()),
            (503, "DatabaseUnavailable"),
            "{}",
            a.body
        );
    }
}
