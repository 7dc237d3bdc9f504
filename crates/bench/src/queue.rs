//! The delivery scenario: sluice sends to a peer that takes 200 ms to answer each request.
//!
//! Lemmy 0.19.3's queue sends one activity at a time per instance, so a peer answering in
//! 200 ms gets at most 5 activities/s, whatever is queued. sluice keeps `delivery_window`
//! deliveries in flight per instance (default 8) while keeping activities about one object
//! in order. The scenario publishes activities through sluice's local publish API
//! (`POST /api/v1/publish`), several about each of a few objects, and watches them arrive
//! at a [`TestPeer`] that verifies every signature with activitypub_federation: delivered
//! per second, whether activities about one object arrived in publish order, and whether
//! the whole stream did.

use crate::Result;
use crate::error::setup;
use crate::stack::{Deployed, Server, StackOptions};
use serde::Serialize;
use serde_json::json;
use sluice_testkit::TestPeer;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct QueueScenario {
    /// Its name.
    pub name: String,
    /// How long the peer takes to answer.
    pub peer_delay: Duration,
    /// `delivery_window` (`None`: sluice's default).
    pub window: Option<usize>,
    /// Activities to publish.
    pub activities: usize,
    /// Objects they are about (round robin).
    pub objects: usize,
}

/// What a delivery scenario measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueOutcome {
    /// Scenario name.
    pub name: String,
    /// The receiving peer's answer time, ms.
    pub peer_delay_ms: u64,
    /// `delivery_window` in effect.
    pub window: usize,
    /// Activities published.
    pub published: usize,
    /// Activities delivered (each once).
    pub delivered: usize,
    /// Deliveries per second, from the first publish to the peer's last answer.
    pub delivered_per_s: f64,
    /// Activities about one object arrived in publish order.
    pub order_kept: bool,
    /// The whole stream arrived in publish order (expected only with a window of 1).
    pub total_order_kept: bool,
    /// Every delivery's signature verified at the peer (activitypub_federation) for its actor.
    pub all_verified: bool,
}

/// sluice's default `delivery_window`.
const DEFAULT_WINDOW: usize = 8;

/// Runs one delivery scenario on a fresh sluice (database 0 ms away).
pub async fn run(
    stack: &StackOptions,
    server: &Server,
    client: &reqwest::Client,
    sc: &QueueScenario,
) -> Result<QueueOutcome> {
    let env: Vec<(String, String)> = sc
        .window
        .map(|w| vec![("SLUICE_DELIVERY_WINDOW".to_string(), w.to_string())])
        .unwrap_or_default();
    let db_name = format!(
        "bench_{}",
        sc.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let mut d = Deployed::start(stack, server, &db_name, Duration::ZERO, &env).await?;
    let result = measure(&d, client, sc).await;
    if result.is_err() {
        eprintln!("sluice log:\n{}", d.log());
    }
    d.stop();
    result
}

async fn measure(
    d: &Deployed,
    client: &reqwest::Client,
    sc: &QueueScenario,
) -> Result<QueueOutcome> {
    let (Some(token), Some(community)) = (&d.publish_token, &d.local_community) else {
        return Err(setup(
            "the delivery scenario needs a sluice the benchmark started",
        ));
    };
    let peer = TestPeer::start_on("127.0.9.1").await;
    peer.inbox_delay(Some(sc.peer_delay));
    let inbox = peer.shared_inbox();
    let start = Instant::now();
    for i in 0..sc.activities {
        let object = format!("{}/post/{}", d.base, i % sc.objects);
        let activity = json!({
            "@context": crate::lemmy::context(),
            "id": format!("{}/activities/announce/{i}", d.base),
            "type": "Announce",
            "actor": community,
            "to": [crate::lemmy::PUBLIC],
            "object": object,
        });
        let r = client
            .post(format!("{}/api/v1/publish", d.base))
            .bearer_auth(token)
            .json(&json!({ "actor": community, "activity": activity, "inboxes": [inbox] }))
            .send()
            .await?;
        if !r.status().is_success() {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            return Err(setup(format!("publish answered {status}: {body}")));
        }
    }
    // Each delivery takes the peer's delay; a window of 1 needs activities × delay.
    let budget = sc.peer_delay * sc.activities as u32 * 2 + Duration::from_secs(30);
    let last = loop {
        if peer.received().len() >= sc.activities || start.elapsed() > budget {
            break start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let received = peer.received();
    let arrival: Vec<usize> = received
        .iter()
        .filter_map(|r| r.activity_id.as_deref())
        .filter_map(|id| id.rsplit('/').next()?.parse().ok())
        .collect();
    let mut distinct = arrival.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let per_object_ordered = (0..sc.objects).all(|o| {
        let seq: Vec<usize> = arrival
            .iter()
            .copied()
            .filter(|i| i % sc.objects == o)
            .collect();
        seq.windows(2).all(|w| w[0] < w[1])
    });
    Ok(QueueOutcome {
        name: sc.name.clone(),
        peer_delay_ms: sc.peer_delay.as_millis() as u64,
        window: sc.window.unwrap_or(DEFAULT_WINDOW),
        published: sc.activities,
        delivered: distinct.len(),
        // The peer records a request when it arrives; the delivery ends with its answer.
        delivered_per_s: distinct.len() as f64 / (last + sc.peer_delay).as_secs_f64(),
        order_kept: per_object_ordered,
        total_order_kept: arrival.windows(2).all(|w| w[0] < w[1]),
        all_verified: received.iter().all(|r| r.is_authentic()),
    })
}
