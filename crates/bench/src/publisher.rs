//! Delivery load for the scale-out scenario: the instance's own application publishing
//! Announces through the balancer at a steady rate, each to several simulated peer
//! instances ([`TestPeer`]s, which verify every signature with activitypub_federation and
//! record every arrival), and what the peers got.
//!
//! A publish that fails on the network or with a 5xx (its process was killed) is sent
//! again, as an application retries: the publish API is idempotent on the activity id, so a
//! retry of a publish that was in fact appended is answered `duplicate` and queued once.

use crate::Result;
use crate::error::setup;
use crate::send::Stop;
use serde_json::json;
use sluice_testkit::TestPeer;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Objects the Announces are about, in turn.
const OBJECTS: usize = 50;
/// Attempts per publish (at 0.5 s apart: more than a failover takes).
const MAX_ATTEMPTS: u32 = 40;

/// Starts `n` peer instances on 127.0.9.1, 127.0.9.2, ..., each answering after `delay`.
pub async fn peers(n: usize, delay: Duration) -> Vec<TestPeer> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let p = TestPeer::start_on(&format!("127.0.9.{}", 1 + i % 250)).await;
        p.inbox_delay(Some(delay));
        out.push(p);
    }
    out
}

/// Where and as whom to publish.
#[derive(Debug, Clone)]
pub struct Target {
    /// The deployment's base URL (the balancer).
    pub base: String,
    /// The publish API's token.
    pub token: String,
    /// The local community that announces (signer and actor).
    pub community: String,
    /// The peers' shared inboxes.
    pub inboxes: Vec<String>,
}

/// Publishes Announce `tag-i` to every inbox of `to`; retries until accepted. Returns the
/// activity id.
pub async fn publish(client: &reqwest::Client, to: &Target, tag: &str, i: usize) -> Result<String> {
    let id = format!("{}/activities/announce/{tag}-{i}", to.base);
    let activity = json!({
        "@context": crate::lemmy::context(),
        "id": id,
        "type": "Announce",
        "actor": to.community,
        "to": [crate::lemmy::PUBLIC],
        "object": format!("{}/post/{}", to.base, i % OBJECTS),
    });
    let body = json!({ "actor": to.community, "activity": activity, "inboxes": to.inboxes });
    let mut last = String::new();
    for _ in 0..MAX_ATTEMPTS {
        let sent = client
            .post(format!("{}/api/v1/publish", to.base))
            .bearer_auth(&to.token)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return Ok(id),
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                return Err(setup(format!("publish answered {status}: {text}")));
            }
            Ok(r) => last = format!("{}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(setup(format!("publish {id} never accepted: {last}")))
}

/// Publishes `rate` activities per second until `stop` is raised; returns the ids accepted.
pub async fn run(
    client: reqwest::Client,
    to: Target,
    tag: String,
    rate: f64,
    stop: Arc<Stop>,
) -> Result<Vec<String>> {
    let every = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let start = Instant::now();
    let mut ids = Vec::new();
    while !stop.is_raised() {
        tokio::time::sleep_until((start + every * ids.len() as u32).into()).await;
        ids.push(publish(&client, &to, &tag, ids.len()).await?);
    }
    Ok(ids)
}

/// Waits until every peer has received each of `ids` at least once, at most `timeout`;
/// returns the wait in seconds.
pub async fn wait_delivered(peers: &[TestPeer], ids: &[String], timeout: Duration) -> f64 {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if peers.iter().all(|p| tally(p, ids).missing == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    start.elapsed().as_secs_f64()
}

/// What one peer received of the activities published.
///
/// The peer answers as Lemmy does: 200 to a delivery whose signature verifies for the
/// activity's actor, 400 to any other. A 400 is not a defect by itself: the peer verifies by
/// fetching our actor's key through the balancer, and a fetch that reached the killed
/// process (a keep-alive connection pinned to it) fails; sluice sends the activity again
/// and it is accepted then. So what counts is what the peer accepted.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Tally {
    /// Published and never accepted.
    pub missing: usize,
    /// Accepted arrivals beyond the first of an activity (by activity id).
    pub duplicates: usize,
    /// Accepted although the signature did not verify for the activity's actor (never
    /// with this peer: it would be the peer's defect or the bench's).
    pub unverified: usize,
    /// Refused because the signature did not verify (its key fetch failed), then sent again.
    pub refused_unverified: usize,
}

/// Counts `peer`'s arrivals against the `ids` published.
pub fn tally(peer: &TestPeer, ids: &[String]) -> Tally {
    let mut accepted: HashMap<String, usize> = HashMap::new();
    let (mut unverified, mut refused_unverified) = (0, 0);
    for r in peer.received() {
        let ok = (200..300).contains(&r.status);
        match (ok, r.is_authentic()) {
            (true, false) => unverified += 1,
            (false, false) => refused_unverified += 1,
            _ => {}
        }
        if let Some(id) = r.activity_id.filter(|_| ok) {
            *accepted.entry(id).or_default() += 1;
        }
    }
    let published: HashSet<&String> = ids.iter().collect();
    Tally {
        missing: ids.iter().filter(|id| !accepted.contains_key(*id)).count(),
        duplicates: accepted
            .iter()
            .filter(|(id, _)| published.contains(id))
            .map(|(_, n)| n - 1)
            .sum(),
        unverified,
        refused_unverified,
    }
}

/// When `peer` first received something after `after`.
pub fn first_arrival_after(peer: &TestPeer, after: Instant) -> Option<Instant> {
    peer.received()
        .iter()
        .map(|r| r.at)
        .filter(|at| *at > after)
        .min()
}
