//! One attempt at one activity: a signed POST to each inbox still waiting for it on the
//! instance, timed and counted per peer host.

use crate::backoff::{Outcome, classify};
use crate::concurrency::Signal;
use crate::signers::Signers;
use crate::window::Delivery;
use sluice_apub::Rc;
use sluice_metrics::{global, prometheus};
use sluice_net::Client;
use std::sync::Arc;

/// The answers of one attempt, per inbox.
#[derive(Debug)]
pub struct Attempt {
    /// Outbound id.
    pub id: i64,
    /// One outcome per inbox tried.
    pub results: Vec<(String, Outcome)>,
    /// What each request sent said about the peer's load.
    pub signals: Vec<Signal>,
}

/// Posts `item` to each of its inboxes, signed as its actor.
pub async fn attempt(
    client: Client,
    signers: Arc<Signers>,
    item: Delivery,
    host: String,
) -> Attempt {
    let signer = match signers.get(&item.actor).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let results = item
                .inboxes
                .iter()
                .map(|i| {
                    let o = Outcome::Drop {
                        reason: "no_key",
                        rc: Rc::ActorKeyMissing,
                        status: None,
                        error: format!("no usable key for {}", item.actor),
                    };
                    count(&host, &o, None);
                    (i.clone(), o)
                })
                .collect();
            return Attempt {
                id: item.id,
                results,
                signals: Vec::new(),
            };
        }
        Err(e) => {
            // Our database, not the peer: retried like a transient failure.
            let o = Outcome::Retry {
                reason: "local",
                retry_after: None,
                error: format!("loading the signing key: {e}"),
            };
            return Attempt {
                id: item.id,
                results: item
                    .inboxes
                    .iter()
                    .map(|i| (i.clone(), o.clone()))
                    .collect(),
                signals: Vec::new(),
            };
        }
    };
    let (id, activity_id) = (item.id, &item.activity_id);
    let posts = item.inboxes.iter().map(|inbox| {
        let (client, signer, body, host) = (&client, &signer, item.body.clone(), &host);
        async move {
            let (outcome, signal) = match url::Url::parse(inbox) {
                Err(e) => (
                    Outcome::Drop {
                        reason: "refused",
                        rc: Rc::InboxRefused,
                        status: None,
                        error: format!("inbox {inbox:?} is not a URL: {e}"),
                    },
                    Signal::Neutral,
                ),
                Ok(url) => {
                    let _on_the_wire = InFlight::new(host);
                    let r = client.post_activity(&url, body, signer).await;
                    let o = classify(&r);
                    let signal = Signal::of(&r);
                    count(host, &o, r.ok().map(|d| d.elapsed.as_secs_f64()));
                    (o, signal)
                }
            };
            if !matches!(outcome, Outcome::Delivered) {
                tracing::debug!(outbound = id, activity = %activity_id, inbox, ?outcome, "delivery failed");
            }
            ((inbox.clone(), outcome), signal)
        }
    });
    let (results, signals) = futures::future::join_all(posts).await.into_iter().unzip();
    Attempt {
        id: item.id,
        results,
        signals,
    }
}

/// Counts a request in `sluice_delivery_in_flight` while it lives (also when the attempt is
/// dropped mid-request: a worker that stops does not wait for its requests).
struct InFlight(prometheus::IntGauge);

impl InFlight {
    fn new(host: &str) -> Self {
        let g = global().delivery_in_flight.with_label_values(&[host]);
        g.inc();
        InFlight(g)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn count(host: &str, o: &Outcome, answered_in: Option<f64>) {
    let m = global();
    if let Some(secs) = answered_in {
        m.delivery_duration_seconds
            .with_label_values(&[host])
            .observe(secs);
    }
    match o {
        Outcome::Delivered => m.deliveries_total.with_label_values(&[host]).inc(),
        Outcome::Retry { reason, .. } | Outcome::Drop { reason, .. } => m
            .delivery_failures_total
            .with_label_values(&[host, reason])
            .inc(),
    }
}
