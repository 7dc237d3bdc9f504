//! Live sluice processes (`node`) and the per-instance delivery leases they hold.
//!
//! A lease is `delivery_state.lease_owner` (a node id) with `lease_until` (database time).
//! A node renews every lease it holds in one statement per heartbeat, claims free or expired
//! ones up to its fair share (active instances / live nodes, rounded up), and releases what it
//! stops serving. Cursor writes are fenced by `lease_owner` (see [`crate::delivery::flush`]),
//! so a node that lost a lease cannot move that instance's cursor any more.

use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;
use std::time::Duration;

/// A lease just claimed: the instance and its persisted delivery state.
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct ClaimedLease {
    /// `instance.id`.
    #[diesel(sql_type = BigInt)]
    pub instance_id: i64,
    /// `instance.domain` (host[:port]).
    #[diesel(sql_type = Text)]
    pub domain: String,
    /// Every outbound id up to this one is done for the instance.
    #[diesel(sql_type = BigInt)]
    pub last_delivered_id: i64,
    /// Consecutive failure steps.
    #[diesel(sql_type = Integer)]
    pub fail_count: i32,
    /// No delivery before this time.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Start of the current failing streak.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_failure_at: Option<DateTime<Utc>>,
    /// Last 2xx.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last failed attempt.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_failure_at: Option<DateTime<Utc>>,
    /// What the last failure was.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

/// What one heartbeat found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heartbeat {
    /// Instances whose lease this node still holds (renewed now).
    pub renewed: Vec<i64>,
    /// Instances claimed now.
    pub claimed: Vec<ClaimedLease>,
    /// Nodes with a fresh heartbeat (this one included).
    pub live_nodes: i64,
    /// Active (not dead) instances with a delivery state.
    pub active_instances: i64,
}

impl Heartbeat {
    /// How many instances this node should serve: active instances shared by live nodes,
    /// rounded up.
    pub fn fair_share(&self) -> i64 {
        let live = self.live_nodes.max(1);
        (self.active_instances + live - 1) / live
    }
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    instance_id: i64,
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    live_nodes: i64,
    #[diesel(sql_type = BigInt)]
    active_instances: i64,
}

const NODE_BEAT: &str = "\
INSERT INTO node (id, hostname, pid) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()";

const RENEW: &str = "\
UPDATE delivery_state SET lease_until = now() + make_interval(secs => $1)
WHERE lease_owner = $2 RETURNING instance_id";

// Claims free or expired leases on active instances, up to this node's fair share
// (SKIP LOCKED: two nodes claiming at once take different rows).
const CLAIM: &str = "\
WITH p AS (SELECT $1::text AS me, $2::float8 AS ttl, $3::bigint AS room),
live AS (
    SELECT greatest(count(*), 1) AS n FROM node, p
    WHERE node.heartbeat_at > now() - make_interval(secs => p.ttl)
),
active AS (SELECT count(*) AS n FROM delivery_state WHERE state = 'active'),
mine AS (SELECT count(*) AS n FROM delivery_state, p WHERE lease_owner = p.me),
want AS (
    SELECT least(p.room, greatest(0, ceil(active.n::float8 / live.n)::bigint - mine.n)) AS n
    FROM p, live, active, mine
),
cand AS (
    SELECT d.instance_id FROM delivery_state d
    WHERE d.state = 'active' AND (d.lease_owner IS NULL OR d.lease_until < now())
    ORDER BY d.instance_id
    LIMIT (SELECT n FROM want)
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE delivery_state d
SET lease_owner = p.me, lease_until = now() + make_interval(secs => p.ttl)
FROM cand, p, instance i
WHERE d.instance_id = cand.instance_id AND i.id = d.instance_id
RETURNING d.instance_id, i.domain, d.last_delivered_id, d.fail_count, d.next_retry_at,
          d.first_failure_at, d.last_success_at, d.last_failure_at, d.last_error";

const COUNTS: &str = "\
WITH p AS (SELECT $1::float8 AS ttl)
SELECT (SELECT count(*) FROM node, p
        WHERE node.heartbeat_at > now() - make_interval(secs => p.ttl)) AS live_nodes,
       (SELECT count(*) FROM delivery_state WHERE state = 'active') AS active_instances";

// Nodes silent for ten lease periods are gone; their leases expired long ago.
const FORGET_NODES: &str = "\
DELETE FROM node WHERE heartbeat_at < now() - make_interval(secs => $1 * 10)";

/// Who this process is, for the `node` table.
#[derive(Debug, Clone)]
pub struct NodeId {
    /// Unique per process start.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// Process id.
    pub pid: i32,
}

/// One heartbeat in one round-trip: records the node as alive, renews every lease it holds,
/// claims free or expired leases up to its fair share (at most `room` of them; 0 = renew
/// only), and counts live nodes and active instances. `ttl` is the lease duration.
pub async fn heartbeat(
    db: &Db,
    node: &NodeId,
    ttl: Duration,
    room: i64,
) -> Result<Heartbeat, DbError> {
    let node = node.clone();
    let ttl = ttl.as_secs_f64();
    db.run("delivery_heartbeat", move |c| {
        async move {
            let c: &AsyncPgConnection = c;
            let beat = crate::sql(NODE_BEAT)
                .bind::<Text, _>(&node.id)
                .bind::<Text, _>(&node.hostname)
                .bind::<Integer, _>(node.pid)
                .execute(&mut &*c);
            let renew = crate::sql(RENEW)
                .bind::<Double, _>(ttl)
                .bind::<Text, _>(&node.id)
                .load::<Id>(&mut &*c);
            let claim = async {
                if room <= 0 {
                    return Ok(vec![]);
                }
                crate::sql(CLAIM)
                    .bind::<Text, _>(&node.id)
                    .bind::<Double, _>(ttl)
                    .bind::<BigInt, _>(room)
                    .load::<ClaimedLease>(&mut &*c)
                    .await
            };
            let counts = crate::sql(COUNTS)
                .bind::<Double, _>(ttl)
                .get_result::<Counts>(&mut &*c);
            let forget = crate::sql(FORGET_NODES)
                .bind::<Double, _>(ttl)
                .execute(&mut &*c);
            let (_, renewed, claimed, counts, _) =
                futures::try_join!(beat, renew, claim, counts, forget)?;
            Ok(Heartbeat {
                renewed: renewed.into_iter().map(|r| r.instance_id).collect(),
                claimed,
                live_nodes: counts.live_nodes,
                active_instances: counts.active_instances,
            })
        }
        .boxed()
    })
    .await
}

/// Gives up the leases on `instances` (after their workers stopped and flushed).
pub async fn release(db: &Db, node: &str, instances: &[i64]) -> Result<(), DbError> {
    let (node, ids) = (node.to_string(), instances.to_vec());
    db.run("delivery_release", move |c| {
        crate::sql(
            "UPDATE delivery_state SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner = $1 AND instance_id = ANY($2)",
        )
        .bind::<Text, _>(node)
        .bind::<Array<BigInt>, _>(ids)
        .execute(c)
        .map(|r| r.map(|_| ()))
        .boxed()
    })
    .await
}

/// Clean shutdown: releases every lease of `node` and removes it, in one round-trip.
pub async fn leave(db: &Db, node: &str) -> Result<(), DbError> {
    let node = node.to_string();
    db.run("delivery_leave", move |c| {
        async move {
            let c: &AsyncPgConnection = c;
            let release = crate::sql(
                "UPDATE delivery_state SET lease_owner = NULL, lease_until = NULL \
                 WHERE lease_owner = $1",
            )
            .bind::<Text, _>(&node)
            .execute(&mut &*c);
            let forget = crate::sql("DELETE FROM node WHERE id = $1")
                .bind::<Text, _>(&node)
                .execute(&mut &*c);
            futures::try_join!(release, forget).map(|_| ())
        }
        .boxed()
    })
    .await
}
