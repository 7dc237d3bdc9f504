//! The delivery scenarios: sluice sends to a peer that takes 200 ms to answer each request.
//!
//! Lemmy 0.19.3's queue sends one activity at a time per instance, so a peer answering in
//! 200 ms gets at most 5 activities/s, whatever is queued. sluice keeps a window of
//! deliveries in flight per instance (fixed, or learned from the peer's answers: the
//! default) while keeping activities about one object in order. A scenario publishes
//! activities through sluice's local publish API (`POST /api/v1/publish`), several about
//! each of many objects, and watches them arrive at a [`TestPeer`] that verifies every
//! signature with activitypub_federation and has a shape ([`PeerShape`]: how many requests
//! it serves at once, whether it throttles). Measured: delivered per second, whether
//! activities about one object arrived in publish order, and (sampling sluice's `/metrics`
//! every 50 ms) the window and the answer time once settled; off the peer's own record,
//! how long sluice waited after a 429 and what it sent beside its first retry.

use crate::Result;
use crate::delivery_peers::{AfterThrottle, PeerShape, Sample, Settled, after_throttle, settled};
use crate::error::setup;
use crate::scrape;
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
    /// A fixed `delivery_window` (`None`: sluice's default, the adaptive window).
    pub window: Option<usize>,
    /// Activities to publish.
    pub activities: usize,
    /// Objects they are about (round robin).
    pub objects: usize,
    /// The peer.
    pub shape: PeerShape,
}

/// What a delivery scenario measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueOutcome {
    /// Scenario name.
    pub name: String,
    /// The receiving peer's answer time, ms.
    pub peer_delay_ms: u64,
    /// The window: `fixed N` or `adaptive ≤ N`.
    pub window: String,
    /// The peer's shape.
    pub shape: PeerShape,
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
    /// Activities accepted (2xx) more than once.
    pub duplicates: usize,
    /// The largest window sampled.
    pub window_max_seen: f64,
    /// The smallest window sampled after the peer's first 429.
    pub window_min_after_429: Option<f64>,
    /// Window and answer time over the second half of the run.
    pub settled: Option<Settled>,
    /// After the peer's 429s.
    pub after_throttle: Option<AfterThrottle>,
    /// The `Retry-After` the peer sent, seconds.
    pub retry_after_s: Option<f64>,
}

/// sluice's default largest adaptive window (`delivery_window_max`).
const DEFAULT_WINDOW_MAX: usize = 64;

/// Runs one delivery scenario on a fresh sluice (database 0 ms away).
pub async fn run(
    stack: &StackOptions,
    server: &Server,
    client: &reqwest::Client,
    sc: &QueueScenario,
) -> Result<QueueOutcome> {
    let env: Vec<(String, String)> = sc
        .window
        .map(|w| {
            vec![
                (
                    "SLUICE_DELIVERY_CONCURRENCY".to_string(),
                    "fixed".to_string(),
                ),
                ("SLUICE_DELIVERY_WINDOW".to_string(), w.to_string()),
            ]
        })
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
    sc.shape.apply(&peer);
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
    let mut samples = Vec::new();
    let last = loop {
        if distinct_accepted(&peer) >= sc.activities || start.elapsed() > budget {
            break start.elapsed();
        }
        if let Ok(m) = scrape::scrape(client, &d.base).await {
            samples.push(Sample {
                at: start.elapsed(),
                window: m.sum("sluice_delivery_window"),
                answered_s: m.sum("sluice_delivery_duration_seconds_sum"),
                answered: m.sum("sluice_delivery_duration_seconds_count"),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let received = peer.received();
    let accepted: Vec<usize> = received
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .filter_map(|r| r.activity_id.as_deref())
        .filter_map(|id| id.rsplit('/').next()?.parse().ok())
        .collect();
    let mut distinct = accepted.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let per_object_ordered = (0..sc.objects).all(|o| {
        let seq: Vec<usize> = accepted
            .iter()
            .copied()
            .filter(|i| i % sc.objects == o)
            .collect();
        seq.windows(2).all(|w| w[0] < w[1])
    });
    let first_429 = received
        .iter()
        .find(|r| r.status == 429)
        .map(|r| r.at.saturating_duration_since(start));
    Ok(QueueOutcome {
        name: sc.name.clone(),
        peer_delay_ms: sc.peer_delay.as_millis() as u64,
        window: match sc.window {
            Some(w) => format!("fixed {w}"),
            None => format!("adaptive ≤ {DEFAULT_WINDOW_MAX}"),
        },
        shape: sc.shape,
        published: sc.activities,
        delivered: distinct.len(),
        // The peer records a request when it arrives; the delivery ends with its answer.
        delivered_per_s: distinct.len() as f64 / (last + sc.peer_delay).as_secs_f64(),
        order_kept: per_object_ordered,
        total_order_kept: accepted.windows(2).all(|w| w[0] < w[1]),
        all_verified: received.iter().all(|r| r.is_authentic()),
        duplicates: accepted.len() - distinct.len(),
        window_max_seen: samples.iter().map(|s| s.window).fold(0.0, f64::max),
        window_min_after_429: first_429.and_then(|t| {
            samples
                .iter()
                .filter(|s| s.at >= t)
                .map(|s| s.window)
                .reduce(f64::min)
        }),
        settled: settled(&samples),
        after_throttle: after_throttle(&received, sc.peer_delay),
        retry_after_s: sc.shape.retry_after().map(|d| d.as_secs_f64()),
    })
}

/// Activities the peer accepted (2xx), each counted once.
fn distinct_accepted(peer: &TestPeer) -> usize {
    let mut ids = peer.accepted();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}
