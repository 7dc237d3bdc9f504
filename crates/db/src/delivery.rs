//! The send queue's reads and writes: which outbound ids are settled (the horizon), which
//! instances have new work, a worker's next batch, the batched cursor flush, revival of
//! dead instances, and the federation status.
//!
//! Appending is in [`crate::outbound`]; leases in [`crate::leases`].

use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;

/// What one horizon probe saw (see [`probe_horizon`]).
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Probe {
    /// The highest committed outbound id.
    #[diesel(sql_type = BigInt)]
    pub max_id: i64,
    /// Committed ids in `(horizon, max_id]`; -1 when the range was too large to count.
    #[diesel(sql_type = BigInt)]
    pub visible: i64,
    /// Transactions in progress at the probe's snapshot (xid8 as bigint).
    #[diesel(sql_type = Array<BigInt>)]
    pub in_progress: Vec<i64>,
    /// Every transaction of `waiting_for` has ended.
    #[diesel(sql_type = Bool)]
    pub waited_done: bool,
    /// `policy_generation` now: the queue reloads its policy table when it moved, so a
    /// block reaches the activities already in its workers' windows.
    #[diesel(sql_type = BigInt)]
    pub policy_generation: i64,
}

const PROBE: &str = "\
WITH p AS (SELECT $1::bigint AS h, $2::bigint[] AS w),
m AS (SELECT COALESCE(max(id), 0) AS max_id FROM outbound_activity)
SELECT m.max_id,
       CASE WHEN m.max_id > p.h AND m.max_id - p.h <= 10000
            THEN (SELECT count(*) FROM outbound_activity o WHERE o.id > p.h AND o.id <= m.max_id)
            ELSE -1 END AS visible,
       ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x) AS in_progress,
       NOT EXISTS (SELECT 1 FROM unnest(p.w) AS w(x)
                   WHERE pg_xact_status(w.x::text::xid8) = 'in progress') AS waited_done,
       (SELECT generation FROM policy_generation) AS policy_generation
FROM p, m";

/// One cheap probe for the horizon (the highest outbound id below which every id is
/// settled): the newest committed id, how many ids above `horizon` are committed (no gap
/// when it is `max_id - horizon`; counted only over ranges of at most 10,000 ids), the transactions in progress now, and whether the
/// transactions of an earlier probe (`waiting_for`) have all ended. One round-trip, index
/// lookups only.
pub async fn probe_horizon(db: &Db, horizon: i64, waiting_for: &[i64]) -> Result<Probe, DbError> {
    let w = waiting_for.to_vec();
    db.run("delivery_probe", move |c| {
        crate::sql(PROBE)
            .bind::<BigInt, _>(horizon)
            .bind::<Array<BigInt>, _>(w)
            .get_result(c)
            .boxed()
    })
    .await
}

/// An instance with targets in a range of outbound ids.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct NewWork {
    /// `instance.id`.
    #[diesel(sql_type = BigInt)]
    pub instance_id: i64,
    /// Its highest outbound id in the range.
    #[diesel(sql_type = BigInt)]
    pub max_id: i64,
}

/// Instances with something to receive among outbound ids `(after, upto]`, in one query
/// for all of them.
pub async fn new_work(db: &Db, after: i64, upto: i64) -> Result<Vec<NewWork>, DbError> {
    db.run("delivery_new_work", move |c| {
        crate::sql(
            "SELECT instance_id, max(outbound_id) AS max_id FROM outbound_target \
             WHERE outbound_id > $1 AND outbound_id <= $2 GROUP BY instance_id",
        )
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(upto)
        .load(c)
        .boxed()
    })
    .await
}

/// One activity to deliver to one instance.
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Pending {
    /// Outbound id (send order).
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The inbox(es) to post to on this instance.
    #[diesel(sql_type = Array<Text>)]
    pub inboxes: Vec<String>,
    /// The activity's id.
    #[diesel(sql_type = Text)]
    pub activity_id: String,
    /// The local actor that signs it.
    #[diesel(sql_type = Text)]
    pub actor_ap_id: String,
    /// The body to send.
    #[diesel(sql_type = Text)]
    pub raw: String,
    /// What it is about.
    #[diesel(sql_type = Nullable<Text>)]
    pub object_ap_id: Option<String>,
    /// When it was appended.
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// `policy_generation` as of this fetch: the worker decides with a policy table at
    /// least this new (`sluice_trust::instances`, the inbox's and the pipeline's decision).
    #[diesel(sql_type = BigInt)]
    pub policy_generation: i64,
}

const FETCH: &str = "\
WITH p AS (SELECT $1::bigint AS inst, $2::bigint AS after, $3::bigint AS upto, $4::bigint AS lim)
SELECT t.outbound_id AS id, t.inboxes, a.activity_id, a.actor_ap_id, a.raw::text AS raw,
       a.object_ap_id, a.created_at, g.generation AS policy_generation
FROM p
JOIN outbound_target t ON t.instance_id = p.inst AND t.outbound_id > p.after AND t.outbound_id <= p.upto
JOIN outbound_activity a ON a.id = t.outbound_id
CROSS JOIN policy_generation g
ORDER BY t.outbound_id
LIMIT (SELECT lim FROM p)";

/// The next activities for one instance: outbound ids in `(after, upto]`, in order, at most
/// `limit`, with the policy generation as of now.
pub async fn fetch(
    db: &Db,
    instance_id: i64,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<Pending>, DbError> {
    db.run("delivery_fetch", move |c| {
        crate::sql(FETCH)
            .bind::<BigInt, _>(instance_id)
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(upto)
            .bind::<BigInt, _>(limit)
            .load(c)
            .boxed()
    })
    .await
}

/// The delivery state of one instance, as a worker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    /// `instance.id`.
    pub instance_id: i64,
    /// Every outbound id up to this one is done.
    pub last_delivered_id: i64,
    /// Consecutive failure steps.
    pub fail_count: i32,
    /// No delivery before.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Start of the failing streak.
    pub first_failure_at: Option<DateTime<Utc>>,
    /// Last 2xx.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last failed attempt.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// What failed last.
    pub last_error: Option<String>,
    /// `active` or `dead`.
    pub state: String,
}

/// A delivery given up for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRow {
    /// The outbound id.
    pub outbound_id: i64,
    /// The instance.
    pub instance_id: i64,
    /// The inbox that refused it.
    pub inbox: String,
    /// HTTP status, when there was an answer.
    pub status: Option<i32>,
    /// Stable rc.
    pub error_code: String,
    /// Message.
    pub error: String,
}

// Cursor writes are fenced by the lease (a node that lost it writes nothing) and never move
// a cursor back. A row written `dead` also gives up its lease.
const FLUSH_STATE: &str = "\
WITH p AS (SELECT $1::text AS me),
v AS (
    SELECT * FROM UNNEST($2::bigint[], $3::bigint[], $4::int[], $5::timestamptz[],
                         $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[])
        AS v(instance_id, cursor, fail_count, next_retry_at, first_failure_at, last_success_at,
             last_failure_at, last_error, state)
)
UPDATE delivery_state d SET
    last_delivered_id = greatest(d.last_delivered_id, v.cursor),
    fail_count = v.fail_count,
    next_retry_at = v.next_retry_at,
    first_failure_at = v.first_failure_at,
    last_success_at = v.last_success_at,
    last_failure_at = v.last_failure_at,
    last_error = v.last_error,
    state = v.state,
    lease_owner = CASE WHEN v.state = 'dead' THEN NULL ELSE d.lease_owner END,
    lease_until = CASE WHEN v.state = 'dead' THEN NULL ELSE d.lease_until END,
    updated_at = now()
FROM v, p
WHERE d.instance_id = v.instance_id AND d.lease_owner = p.me
RETURNING d.instance_id";

const FLUSH_FAILURES: &str = "\
INSERT INTO delivery_failure (outbound_id, instance_id, inbox, status, error_code, error)
SELECT f.outbound_id, f.instance_id, f.inbox, f.status, f.error_code, f.error
FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[], $6::text[])
    AS f(outbound_id, instance_id, inbox, status, error_code, error)
WHERE EXISTS (SELECT 1 FROM delivery_state d WHERE d.instance_id = f.instance_id AND d.lease_owner = $7)";

/// Writes the delivery state of many instances, and the failures given up since the last
/// flush, for the node holding their leases: two statements in one round-trip. Returns the
/// instances written; a missing one means the node lost that lease.
pub async fn flush(
    db: &Db,
    node: &str,
    states: Vec<StateRow>,
    failures: Vec<FailureRow>,
) -> Result<Vec<i64>, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Written {
        #[diesel(sql_type = BigInt)]
        instance_id: i64,
    }
    let node = node.to_string();
    let written: Vec<Written> = db
        .run("delivery_flush", move |c| {
            async move {
                let c: &AsyncPgConnection = c;
                let s = &states;
                let f = &failures;
                let state = crate::sql(FLUSH_STATE)
                    .bind::<Text, _>(&node)
                    .bind::<Array<BigInt>, _>(s.iter().map(|r| r.instance_id).collect::<Vec<_>>())
                    .bind::<Array<BigInt>, _>(
                        s.iter().map(|r| r.last_delivered_id).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Integer>, _>(s.iter().map(|r| r.fail_count).collect::<Vec<_>>())
                    .bind::<Array<Nullable<Timestamptz>>, _>(
                        s.iter().map(|r| r.next_retry_at).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Nullable<Timestamptz>>, _>(
                        s.iter().map(|r| r.first_failure_at).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Nullable<Timestamptz>>, _>(
                        s.iter().map(|r| r.last_success_at).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Nullable<Timestamptz>>, _>(
                        s.iter().map(|r| r.last_failure_at).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Nullable<Text>>, _>(
                        s.iter().map(|r| r.last_error.clone()).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Text>, _>(s.iter().map(|r| r.state.clone()).collect::<Vec<_>>())
                    .load::<Written>(&mut &*c);
                let dropped = async {
                    if f.is_empty() {
                        return Ok(0);
                    }
                    crate::sql(FLUSH_FAILURES)
                        .bind::<Array<BigInt>, _>(
                            f.iter().map(|r| r.outbound_id).collect::<Vec<_>>(),
                        )
                        .bind::<Array<BigInt>, _>(
                            f.iter().map(|r| r.instance_id).collect::<Vec<_>>(),
                        )
                        .bind::<Array<Text>, _>(
                            f.iter().map(|r| r.inbox.clone()).collect::<Vec<_>>(),
                        )
                        .bind::<Array<Nullable<Integer>>, _>(
                            f.iter().map(|r| r.status).collect::<Vec<_>>(),
                        )
                        .bind::<Array<Text>, _>(
                            f.iter().map(|r| r.error_code.clone()).collect::<Vec<_>>(),
                        )
                        .bind::<Array<Text>, _>(
                            f.iter().map(|r| r.error.clone()).collect::<Vec<_>>(),
                        )
                        .bind::<Text, _>(&node)
                        .execute(&mut &*c)
                        .await
                };
                // Failures first: a state written `dead` gives up the lease they are fenced by.
                let (_, w) = futures::try_join!(dropped, state)?;
                Ok(w)
            }
            .boxed()
        })
        .await?;
    Ok(written.into_iter().map(|w| w.instance_id).collect())
}

/// Dead instances that sent us something since journal id `after` become active again.
/// Returns their domains and the journal id read up to.
pub async fn revive_from_journal(db: &Db, after: i64) -> Result<(Vec<String>, i64), DbError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<Text>)]
        domain: Option<String>,
        #[diesel(sql_type = BigInt)]
        upto: i64,
    }
    let rows: Vec<Row> = db
        .run("delivery_revive_seen", move |c| {
            crate::sql(
                "WITH p AS (SELECT $1::bigint AS after),
                 seen AS (
                     SELECT r.id, lower(substring(r.actor from '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#@]+)')) AS domain
                     FROM received_activity r, p WHERE r.id > p.after
                 ),
                 rev AS (
                     UPDATE delivery_state d SET state = 'active', fail_count = 0, next_retry_at = NULL,
                         first_failure_at = NULL, updated_at = now()
                     FROM instance i
                     WHERE i.id = d.instance_id AND d.state = 'dead'
                       AND i.domain IN (SELECT domain FROM seen)
                     RETURNING i.domain
                 )
                 SELECT rev.domain, (SELECT COALESCE(max(id), (SELECT after FROM p)) FROM seen) AS upto
                 FROM (SELECT 1) one LEFT JOIN rev ON true",
            )
            .bind::<BigInt, _>(after)
            .load(c)
            .boxed()
        })
        .await?;
    let upto = <[Row]>::first(&rows).map(|r| r.upto).unwrap_or(after);
    Ok((rows.into_iter().filter_map(|r| r.domain).collect(), upto))
}

/// Whether any instance is dead, and the newest journal id (revival reads the journal
/// after it only while some instance is dead).
pub async fn revival_check(db: &Db) -> Result<(bool, i64), DbError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        dead: bool,
        #[diesel(sql_type = BigInt)]
        journal: i64,
    }
    let r: Row = db
        .run("delivery_revival_check", |c| {
            crate::sql(
                "SELECT EXISTS (SELECT 1 FROM delivery_state WHERE state = 'dead') AS dead, \
                        (SELECT COALESCE(max(id), 0) FROM received_activity) AS journal",
            )
            .get_result(c)
            .boxed()
        })
        .await?;
    Ok((r.dead, r.journal))
}

/// What `revive` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revived {
    /// No delivery state for that domain (nothing was ever sent to it).
    Unknown,
    /// It was dead and is active again.
    Revived,
    /// It was active; its failure streak and backoff were reset.
    Reset,
}

/// `sluice instance revive DOMAIN`: makes the instance active with no failure streak and no
/// backoff, and takes its lease away so that a worker starts afresh from the persisted
/// cursor (the node that held it notices at its next heartbeat or flush).
pub async fn revive(db: &Db, domain: &str) -> Result<Revived, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        was: String,
    }
    let domain = domain.to_lowercase();
    let rows: Vec<Row> = db
        .run("delivery_revive", move |c| {
            crate::sql(
                "WITH old AS (
                     SELECT d.instance_id, d.state FROM delivery_state d JOIN instance i ON i.id = d.instance_id
                     WHERE i.domain = $1 FOR UPDATE OF d
                 )
                 UPDATE delivery_state d SET state = 'active', fail_count = 0, next_retry_at = NULL,
                     first_failure_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = now()
                 FROM old WHERE d.instance_id = old.instance_id
                 RETURNING old.state AS was",
            )
            .bind::<Text, _>(domain)
            .load(c)
            .boxed()
        })
        .await?;
    Ok(match <[Row]>::first(&rows).map(|r| r.was.as_str()) {
        None => Revived::Unknown,
        Some("dead") => Revived::Revived,
        Some(_) => Revived::Reset,
    })
}

/// One instance in the federation status.
#[derive(Debug, Clone, PartialEq, serde::Serialize, diesel::QueryableByName)]
pub struct InstanceStatus {
    /// host[:port].
    #[diesel(sql_type = Text)]
    pub domain: String,
    /// `active` or `dead`.
    #[diesel(sql_type = Text)]
    pub state: String,
    /// `none`, `allow` or `block`.
    #[diesel(sql_type = Text)]
    pub policy: String,
    /// Persisted cursor.
    #[diesel(sql_type = BigInt)]
    pub last_delivered_id: i64,
    /// Activities queued for it and not yet delivered.
    #[diesel(sql_type = BigInt)]
    pub lag_activities: i64,
    /// Age of the oldest undelivered activity, seconds (0 when none).
    #[diesel(sql_type = Double)]
    pub lag_seconds: f64,
    /// Last 2xx.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last failed attempt.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Consecutive failure steps.
    #[diesel(sql_type = Integer)]
    pub fail_count: i32,
    /// Start of the current failing streak.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_failure_at: Option<DateTime<Utc>>,
    /// Next attempt, when backing off.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_retry_at: Option<DateTime<Utc>>,
    /// What failed last.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// The node whose worker serves it.
    #[diesel(sql_type = Nullable<Text>)]
    pub lease_owner: Option<String>,
    /// Deliveries given up for good (4xx).
    #[diesel(sql_type = BigInt)]
    pub dropped: i64,
}

/// Every instance with a delivery state, by domain (exact counts: an admin query).
pub async fn status(db: &Db) -> Result<Vec<InstanceStatus>, DbError> {
    db.run("delivery_status", |c| {
        crate::sql(
            "SELECT i.domain, d.state, i.policy, d.last_delivered_id,
                 (SELECT count(*) FROM outbound_target t
                  WHERE t.instance_id = d.instance_id AND t.outbound_id > d.last_delivered_id) AS lag_activities,
                 COALESCE((SELECT extract(epoch FROM now() - a.created_at)::float8
                  FROM outbound_target t JOIN outbound_activity a ON a.id = t.outbound_id
                  WHERE t.instance_id = d.instance_id AND t.outbound_id > d.last_delivered_id
                  ORDER BY t.outbound_id LIMIT 1), 0) AS lag_seconds,
                 d.last_success_at, d.last_failure_at, d.fail_count, d.first_failure_at,
                 d.next_retry_at, d.last_error, d.lease_owner,
                 (SELECT count(*) FROM delivery_failure f WHERE f.instance_id = d.instance_id) AS dropped
             FROM delivery_state d JOIN instance i ON i.id = d.instance_id
             ORDER BY i.domain",
        )
        .load(c)
        .boxed()
    })
    .await
}

/// Lag of the instances a node serves, from their in-memory cursors: activities queued (up
/// to `cap` counted) and the age of the oldest, for the queue-lag gauges. One statement.
pub async fn lag(
    db: &Db,
    cursors: &[(i64, i64)],
    cap: i64,
) -> Result<Vec<(i64, i64, f64)>, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        instance_id: i64,
        #[diesel(sql_type = BigInt)]
        lag: i64,
        #[diesel(sql_type = Double)]
        lag_seconds: f64,
    }
    let ids: Vec<i64> = cursors.iter().map(|c| c.0).collect();
    let cur: Vec<i64> = cursors.iter().map(|c| c.1).collect();
    let rows: Vec<Row> = db
        .run("delivery_lag", move |c| {
            crate::sql(
                "SELECT d.instance_id,
                     (SELECT count(*) FROM (SELECT 1 FROM outbound_target t
                       WHERE t.instance_id = d.instance_id AND t.outbound_id > d.cursor
                       LIMIT $1) x) AS lag,
                     COALESCE((SELECT extract(epoch FROM now() - a.created_at)::float8
                       FROM outbound_target t JOIN outbound_activity a ON a.id = t.outbound_id
                       WHERE t.instance_id = d.instance_id AND t.outbound_id > d.cursor
                       ORDER BY t.outbound_id LIMIT 1), 0) AS lag_seconds
                 FROM UNNEST($2::bigint[], $3::bigint[]) AS d(instance_id, cursor)",
            )
            .bind::<BigInt, _>(cap)
            .bind::<Array<BigInt>, _>(ids)
            .bind::<Array<BigInt>, _>(cur)
            .load(c)
            .boxed()
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.instance_id, r.lag, r.lag_seconds))
        .collect())
}
