//! The sending stage: one task per webhook, started by `serve` (`WebhooksConfig::start`).
//!
//! A webhook's task leases the webhook (processes sharing the database: one sends, the
//! others wait for the lease), takes its oldest pending delivery, waits until it is due,
//! POSTs it signed, and records the attempt as [`crate::retry`] decides. Deliveries go out
//! one at a time in event order, so an event being retried holds back the ones after it
//! until it is delivered or failed. A crash between the POST and its record sends that
//! event again: receivers deduplicate by `id` (`X-Sluice-Delivery`).

use crate::retry::{self, Decision};
use crate::sign::{self, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::{Hook, WebhooksConfig, event};
use sluice_db::Db;
use sluice_db::webhooks::{self as rows, Attempt, Head};
use sluice_net::Client;
use sluice_stage::{Handle, Shutdown};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a webhook's lease lasts without renewal (each look at the head renews it).
const LEASE: Duration = Duration::from_secs(60);

/// How often delivered and failed events past their retention are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// What the sender needs from the process.
pub struct Deps {
    /// The database (events, deliveries, leases).
    pub db: Db,
    /// Outgoing HTTP (the guarded client).
    pub client: Client,
}

impl WebhooksConfig {
    /// Writes the configured webhooks to the database, then sends for each until
    /// `shutdown`. The table is written before any task starts, so events of a webhook
    /// removed from the configuration stop being appended from now on.
    pub async fn start(self, deps: Deps, shutdown: Shutdown) -> Result<Handle, sluice_db::DbError> {
        let Deps { db, client } = deps;
        rows::configure(&db, self.subscriptions()).await?;
        let settings = Arc::new(self);
        let mut tasks = Vec::new();
        for hook in settings.hooks.clone() {
            let sender = Sender {
                db: db.clone(),
                client: client.clone(),
                settings: settings.clone(),
                hook,
            };
            tasks.push(tokio::spawn(sender.run(shutdown.clone())));
        }
        if !settings.hooks.is_empty() {
            tasks.push(tokio::spawn(prune(
                db.clone(),
                settings.retention,
                shutdown.clone(),
            )));
        }
        Ok(Handle::new("webhook sender", shutdown, tasks))
    }
}

struct Sender {
    db: Db,
    client: Client,
    settings: Arc<WebhooksConfig>,
    hook: Hook,
}

impl Sender {
    async fn run(self, stop: Shutdown) {
        let mut failing = false;
        loop {
            let wait =
                match rows::head(&self.db, &self.hook.name, &self.settings.node_id, LEASE).await {
                    Ok(Some(head)) if head.due_in <= 0.0 => {
                        failing = false;
                        // Shutdown does not wait for a receiver: the attempt is not recorded,
                        // and the event goes out again after the restart.
                        tokio::select! {
                            _ = stop.triggered() => return,
                            _ = self.attempt(head) => {}
                        }
                        continue;
                    }
                    Ok(Some(head)) => Duration::from_secs_f64(head.due_in).min(self.settings.poll),
                    Ok(None) => self.settings.poll,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(webhook = %self.hook.name, error = %e,
                            "webhook: cannot read its pending events");
                        }
                        failing = true;
                        self.settings.poll
                    }
                };
            tokio::select! {
                _ = stop.triggered() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One signed POST of the head, and its record.
    async fn attempt(&self, head: Head) {
        let body = event::body(&head.kind, head.event_id, head.created_at, &head.payload);
        let now = SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap_or_default()
            .as_secs();
        let headers = [
            (TIMESTAMP_HEADER, now.to_string()),
            (
                SIGNATURE_HEADER,
                sign::signature(&self.hook.secret, now, &body),
            ),
            (EVENT_HEADER, head.kind.clone()),
            (DELIVERY_HEADER, head.event_id.to_string()),
        ];
        let result = self
            .client
            .post_json(&self.hook.url, body.into(), &headers)
            .await;
        let attempts = head.attempts.saturating_add(1);
        let (state, retry_in) = match retry::decide(&result, attempts, self.settings.retry_base) {
            Decision::Delivered => ("delivered", Duration::ZERO),
            Decision::RetryIn(wait) => ("pending", wait),
            Decision::Failed => ("failed", Duration::ZERO),
        };
        let error = retry::error_of(&result);
        let label = if state == "pending" { "retry" } else { state };
        sluice_metrics::global()
            .webhook_attempts_total
            .with_label_values(&[&self.hook.name, label])
            .inc();
        match state {
            "delivered" => tracing::debug!(webhook = %self.hook.name, event = head.event_id,
                "webhook delivered"),
            "failed" => tracing::warn!(webhook = %self.hook.name, event = head.event_id,
                attempts, error = ?error, "webhook delivery failed for good"),
            _ => tracing::info!(webhook = %self.hook.name, event = head.event_id, attempts,
                error = ?error, retry_in = ?retry_in, "webhook delivery failed; will retry"),
        }
        let attempt = Attempt {
            attempts,
            state,
            retry_in,
            status: result.as_ref().ok().map(|d| i32::from(d.status)),
            error,
        };
        let recorded = rows::record(
            &self.db,
            &self.hook.name,
            &self.settings.node_id,
            head.event_id,
            attempt,
        )
        .await;
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::info!(webhook = %self.hook.name,
                "webhook: lease lost; another process sends its events"),
            Err(e) => tracing::warn!(webhook = %self.hook.name, error = %e,
                "webhook: cannot record an attempt; the event will be sent again"),
        }
    }
}

/// Deletes events past `retention` that nothing is still waiting to deliver.
async fn prune(db: Db, retention: Duration, stop: Shutdown) {
    loop {
        tokio::select! {
            _ = stop.triggered() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
        loop {
            match rows::prune(&db, retention).await {
                Ok(1000..) => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook: cannot prune old events");
                    break;
                }
            }
        }
    }
}
