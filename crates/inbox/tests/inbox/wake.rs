//! The receiver wakes the pipeline once an activity is journaled, so an idle processor
//! starts on it at once rather than at its next poll (regression: `sluice serve` never
//! passed the pipeline's waker to the receiver, so every activity waited up to a poll
//! interval). A re-delivered duplicate stores nothing and wakes nobody. The receiver's
//! background stage stops when told, not when its last handle is dropped.

use crate::support::{like, with_alice};
use std::pin::pin;
use std::time::Duration;

/// Long enough for any machine; the notification is expected well before.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_activity_wakes_the_pipeline() {
    let (h, peer, alice) = with_alice(|_| {}).await;
    let activity = like(&peer, &alice);

    let mut woken = pin!(h.journaled.notified());
    woken.as_mut().enable();
    let a = h.receive(&peer, &alice, &activity).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("accepted"))
    );
    tokio::time::timeout(PATIENCE, woken)
        .await
        .expect("the journal insert woke the pipeline");

    // The duplicate is acknowledged from the same insert path but stores nothing.
    let mut woken = pin!(h.journaled.notified());
    woken.as_mut().enable();
    let a = h.receive(&peer, &alice, &activity).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("duplicate"))
    );
    assert!(
        futures::poll!(woken.as_mut()).is_pending(),
        "a duplicate stored nothing, so it wakes nobody"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_stops_on_shutdown_and_then_journals_nothing() {
    let (h, peer, alice) = with_alice(|_| {}).await;
    let before = like(&peer, &alice);
    let a = h.receive(&peer, &alice, &before).await;
    assert_eq!(a.status, 202);

    // The Inbox (held by the harness and its HTTP server) is still alive: only the
    // shutdown stops the journal writer and the probe.
    let stage = h.stage.lock().unwrap().take().expect("the inbox stage");
    tokio::time::timeout(PATIENCE, stage.stop())
        .await
        .expect("the inbox stage stopped");

    let after = like(&peer, &alice);
    let a = h.receive(&peer, &alice, &after).await;
    assert_eq!(
        (a.status, a.rc()),
        (503, "DatabaseUnavailable"),
        "{:?}",
        a.body
    );
    assert_eq!(
        h.journal().await,
        [before["id"].as_str().unwrap()],
        "what was acknowledged before the shutdown is journaled, nothing after"
    );
}
