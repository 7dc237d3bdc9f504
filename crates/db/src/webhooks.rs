//! Webhook events and their deliveries (docs/webhooks.md).
//!
//! Events are appended by triggers (migration `webhooks`) in the transaction of the change
//! they describe, one `webhook_delivery` row per subscribed webhook. The sender leases a
//! webhook, reads its oldest pending delivery (its head: deliveries go out in event order,
//! one at a time) and records each attempt.

use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use futures::FutureExt;
use std::time::Duration;

/// Makes the `webhook` table the configured webhooks: each `(name, events)` enabled with
/// those events, every other one disabled (its rows are kept for `sluice webhook status`,
/// and no new event reaches it).
pub async fn configure(db: &Db, hooks: Vec<(String, Vec<String>)>) -> Result<(), DbError> {
    let names: Vec<String> = hooks.iter().map(|(n, _)| n.clone()).collect();
    // Each webhook's events travel as one text (a text[][] must be rectangular).
    let events: Vec<String> = hooks.iter().map(|(_, e)| e.join(",")).collect();
    db.run("webhook_configure", move |c| {
        crate::sql(
            "WITH p AS (SELECT $1::text[] AS names, $2::text[] AS events), \
             cfg AS (SELECT n, string_to_array(e, ',') AS ev \
                     FROM p, UNNEST(p.names, p.events) AS t(n, e)), \
             up AS (INSERT INTO webhook (name, events, enabled) SELECT n, ev, TRUE FROM cfg \
                    ON CONFLICT (name) DO UPDATE SET events = excluded.events, enabled = TRUE) \
             UPDATE webhook SET enabled = FALSE FROM p \
             WHERE webhook.enabled AND NOT (webhook.name = ANY (p.names))",
        )
        .bind::<Array<Text>, _>(names)
        .bind::<Array<Text>, _>(events)
        .execute(c)
        .map(|r| r.map(|_| ()))
        .boxed()
    })
    .await
}

/// A webhook's oldest pending delivery.
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Head {
    /// The event's id (the payload's `id`).
    #[diesel(sql_type = BigInt)]
    pub event_id: i64,
    /// The event type (`report.received`, ...).
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// The event's fields, as a JSON object.
    #[diesel(sql_type = Text)]
    pub payload: String,
    /// When the change was made.
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// Attempts made so far.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// Seconds until it is due (0 or less: now), by the database's clock.
    #[diesel(sql_type = Double)]
    pub due_in: f64,
}

const HEAD: &str = "\
WITH p AS (SELECT $1::text AS hook, $2::text AS me, $3::float8 AS lease),
w AS (
    UPDATE webhook SET lease_owner = p.me, lease_until = now() + make_interval(secs => p.lease)
    FROM p
    WHERE webhook.name = p.hook AND webhook.enabled
      AND (webhook.lease_owner IS NULL OR webhook.lease_owner = p.me
           OR webhook.lease_until < now())
    RETURNING webhook.name
)
SELECT d.event_id, e.kind, e.payload::text AS payload, e.created_at, d.attempts,
       extract(epoch FROM d.next_attempt_at - now())::float8 AS due_in
FROM w
JOIN webhook_delivery d ON d.webhook = w.name AND d.state = 'pending'
JOIN webhook_event e ON e.id = d.event_id
ORDER BY d.event_id
LIMIT 1";

/// Takes (or renews) the lease on webhook `name` for `owner` and returns its oldest
/// pending delivery. `None` when nothing is pending or another process holds the lease.
pub async fn head(
    db: &Db,
    name: &str,
    owner: &str,
    lease: Duration,
) -> Result<Option<Head>, DbError> {
    let (name, owner) = (name.to_string(), owner.to_string());
    let rows: Vec<Head> = db
        .run("webhook_head", move |c| {
            crate::sql(HEAD)
                .bind::<Text, _>(name)
                .bind::<Text, _>(owner)
                .bind::<Double, _>(lease.as_secs_f64())
                .load(c)
                .boxed()
        })
        .await?;
    Ok(rows.into_iter().next())
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The delivery's attempts, this one included.
    pub attempts: i32,
    /// `delivered`, `failed` (given up) or `pending` (tried again after `retry_in`).
    pub state: &'static str,
    /// When `pending`: the wait before the next attempt.
    pub retry_in: Duration,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i32>,
    /// Why it did not succeed.
    pub error: Option<String>,
}

const RECORD: &str = "\
WITH p AS (SELECT $1::text AS hook, $2::text AS me, $3::bigint AS event, $4::int AS attempts,
                  $5::text AS state, $6::float8 AS retry_in, $7::int AS status, $8::text AS error),
d AS (
    UPDATE webhook_delivery d SET attempts = p.attempts, state = p.state,
        next_attempt_at = now() + make_interval(secs => p.retry_in),
        last_status = p.status, last_error = p.error,
        finished_at = CASE WHEN p.state = 'pending' THEN NULL ELSE now() END
    FROM p, webhook w
    WHERE d.webhook = p.hook AND d.event_id = p.event AND d.state = 'pending'
      AND w.name = p.hook AND w.lease_owner = p.me
    RETURNING d.event_id
)
UPDATE webhook w SET
    last_success_at = CASE WHEN p.state = 'delivered' THEN now() ELSE w.last_success_at END,
    last_failure_at = CASE WHEN p.state = 'delivered' THEN w.last_failure_at ELSE now() END,
    last_error = CASE WHEN p.state = 'delivered' THEN w.last_error ELSE p.error END
FROM p
WHERE w.name = p.hook AND EXISTS (SELECT 1 FROM d)
RETURNING w.name";

/// Records an attempt at delivering `event_id` to webhook `name`, only while `owner` holds
/// its lease. Returns false when it did not (the lease was lost: another process sends).
pub async fn record(
    db: &Db,
    name: &str,
    owner: &str,
    event_id: i64,
    attempt: Attempt,
) -> Result<bool, DbError> {
    let (name, owner) = (name.to_string(), owner.to_string());
    let error = attempt
        .error
        .map(|e| e.chars().take(500).collect::<String>());
    let n = db
        .run("webhook_record", move |c| {
            crate::sql(RECORD)
                .bind::<Text, _>(name)
                .bind::<Text, _>(owner)
                .bind::<BigInt, _>(event_id)
                .bind::<Integer, _>(attempt.attempts)
                .bind::<Text, _>(attempt.state)
                .bind::<Double, _>(attempt.retry_in.as_secs_f64())
                .bind::<Nullable<Integer>, _>(attempt.status)
                .bind::<Nullable<Text>, _>(error)
                .execute(c)
                .boxed()
        })
        .await?;
    Ok(n == 1)
}

/// One webhook's state, as `sluice webhook status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, diesel::QueryableByName)]
pub struct WebhookStatus {
    /// Its name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// Still configured.
    #[diesel(sql_type = Bool)]
    pub enabled: bool,
    /// Deliveries waiting (the head may be retrying).
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    /// Deliveries that succeeded.
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    /// Deliveries given up after every attempt.
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Events not queued because the backlog was at its bound (10,000 pending).
    #[diesel(sql_type = BigInt)]
    pub dropped: i64,
    /// The last success.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last failed attempt.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Why it failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// When the oldest pending delivery is tried again (none when it was not tried yet:
    /// it goes out at once).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_retry_at: Option<DateTime<Utc>>,
}

/// Every webhook the database knows, by name.
pub async fn status(db: &Db) -> Result<Vec<WebhookStatus>, DbError> {
    db.run("webhook_status", |c| {
        crate::sql(
            "SELECT w.name, w.enabled, \
                 count(d.event_id) FILTER (WHERE d.state = 'pending') AS pending, \
                 count(d.event_id) FILTER (WHERE d.state = 'delivered') AS delivered, \
                 count(d.event_id) FILTER (WHERE d.state = 'failed') AS failed, \
                 w.dropped, \
                 w.last_success_at, w.last_failure_at, w.last_error, \
                 (SELECT CASE WHEN h.attempts > 0 THEN h.next_attempt_at END \
                  FROM webhook_delivery h \
                  WHERE h.webhook = w.name AND h.state = 'pending' \
                  ORDER BY h.event_id LIMIT 1) AS next_retry_at \
             FROM webhook w LEFT JOIN webhook_delivery d ON d.webhook = w.name \
             GROUP BY w.name ORDER BY w.name",
        )
        .load(c)
        .boxed()
    })
    .await
}

/// Deletes up to 1,000 events older than `age` that no webhook still has pending (with
/// their deliveries). Returns how many.
pub async fn prune(db: &Db, age: Duration) -> Result<usize, DbError> {
    db.run("webhook_prune", move |c| {
        crate::sql(
            "DELETE FROM webhook_event WHERE id IN ( \
                 SELECT e.id FROM webhook_event e \
                 WHERE e.created_at < now() - make_interval(secs => $1) \
                   AND NOT EXISTS (SELECT 1 FROM webhook_delivery d \
                                   WHERE d.event_id = e.id AND d.state = 'pending') \
                 ORDER BY e.created_at LIMIT 1000)",
        )
        .bind::<Double, _>(age.as_secs_f64())
        .execute(c)
        .boxed()
    })
    .await
}
