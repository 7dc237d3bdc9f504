//! Instance-policy entries that come from the Fediseer sync, and the sync's own state.
//!
//! A synced entry lives in the same `instance.policy` column as a manual one (so every
//! stage decides with the one table of `sluice_trust::instances`), marked
//! `policy_source = 'fediseer'`. The sync writes only rows that are its own or carry no
//! policy: a manual allow or block is never changed or removed by it.

use crate::instances::{Policy, bump_generation};
use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, RunQueryDsl};
use futures::FutureExt;
use std::time::Duration;

/// One entry the Fediseer lists call for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedEntry {
    /// The instance, in its normal form (`sluice_trust::host`).
    pub domain: String,
    /// `Allow` or `Block` (a `None` entry is no entry).
    pub policy: Policy,
    /// The reasons the Fediseer gives, joined.
    pub reason: Option<String>,
    /// Which feelers or sources gave it (`endorsed by a.example`).
    pub detail: String,
}

/// What one applied sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Domains whose synced entry was added or changed.
    pub set: Vec<String>,
    /// Domains whose synced entry was withdrawn.
    pub cleared: Vec<String>,
    /// Synced allow entries in force after the sync.
    pub allows: i32,
    /// Synced block entries in force after the sync.
    pub blocks: i32,
}

impl Applied {
    /// Whether the policy table changed (and its generation was bumped).
    pub fn changed(&self) -> bool {
        !(self.set.is_empty() && self.cleared.is_empty())
    }
}

/// The sync's state, as `sluice doctor` reports it.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct SyncStatus {
    /// When a process last started a sync.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started: Option<DateTime<Utc>>,
    /// When a sync last applied the Fediseer's lists.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success: Option<DateTime<Utc>>,
    /// When a sync last failed (the lists in force stayed as they were).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_failure: Option<DateTime<Utc>>,
    /// Why it failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// Synced allow entries after the last success.
    #[diesel(sql_type = Integer)]
    pub allows: i32,
    /// Synced block entries after the last success.
    #[diesel(sql_type = Integer)]
    pub blocks: i32,
}

#[derive(diesel::QueryableByName)]
struct Domain {
    #[diesel(sql_type = Text)]
    domain: String,
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = Integer)]
    allows: i32,
    #[diesel(sql_type = Integer)]
    blocks: i32,
}

/// Serialises applies across processes sharing the database (any constant works; this one
/// is "fediseer" in ASCII).
const APPLY_LOCK: i64 = 0x6665_6469_7365_6572;

/// Takes the sync lease when no process started a sync in the last `interval`: processes
/// sharing the database take turns instead of each fetching every interval. Returns
/// whether this process should sync now.
pub async fn claim(db: &Db, interval: Duration) -> Result<bool, DbError> {
    let secs = interval.as_secs_f64();
    db.run("fediseer_claim", move |c| {
        diesel::sql_query(
            "UPDATE fediseer_sync SET started = now() \
             WHERE started IS NULL OR started <= now() - make_interval(secs => $1)",
        )
        .bind::<Double, _>(secs)
        .execute(c)
        .map(|r| r.map(|n| n == 1))
        .boxed()
    })
    .await
}

/// Makes the synced entries exactly `entries`, in one transaction under an advisory lock
/// (two processes applying at once take turns): adds and updates the rows that are the
/// sync's or have no policy, withdraws the sync's rows no longer listed, bumps the policy
/// generation once when anything changed, and records the success. `entries` must name
/// each domain once.
pub async fn apply(db: &Db, entries: Vec<SyncedEntry>) -> Result<Applied, DbError> {
    let mut cols: [Vec<String>; 4] = Default::default();
    for e in entries {
        cols[0].push(e.domain);
        cols[1].push(e.policy.as_str().to_string());
        cols[2].push(e.reason.unwrap_or_default());
        cols[3].push(e.detail);
    }
    db.run("fediseer_apply", move |c| {
        async move {
            c.transaction(async |c| {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<diesel::sql_types::BigInt, _>(APPLY_LOCK)
                    .execute(c)
                    .await?;
                let [domains, policies, reasons, details] = cols;
                let set: Vec<Domain> = diesel::sql_query(UPSERT)
                    .bind::<Array<Text>, _>(&domains)
                    .bind::<Array<Text>, _>(policies)
                    .bind::<Array<Text>, _>(reasons)
                    .bind::<Array<Text>, _>(details)
                    .load(c)
                    .await?;
                let cleared: Vec<Domain> = diesel::sql_query(WITHDRAW)
                    .bind::<Array<Text>, _>(&domains)
                    .load(c)
                    .await?;
                if !(set.is_empty() && cleared.is_empty()) {
                    bump_generation(c, None).await?;
                }
                let counts: Counts = diesel::sql_query(RECORD_SUCCESS).get_result(c).await?;
                Ok(Applied {
                    set: set.into_iter().map(|d| d.domain).collect(),
                    cleared: cleared.into_iter().map(|d| d.domain).collect(),
                    allows: counts.allows,
                    blocks: counts.blocks,
                })
            })
            .await
        }
        .boxed()
    })
    .await
}

const UPSERT: &str = "\
INSERT INTO instance (domain, policy, policy_reason, policy_updated, policy_source, \
                      policy_source_detail) \
SELECT d, p, NULLIF(r, ''), now(), 'fediseer', s \
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS t(d, p, r, s) \
ON CONFLICT (domain) DO UPDATE SET \
    policy = excluded.policy, policy_reason = excluded.policy_reason, \
    policy_updated = now(), policy_source = 'fediseer', \
    policy_source_detail = excluded.policy_source_detail \
WHERE (instance.policy = 'none' OR instance.policy_source = 'fediseer') \
  AND (instance.policy, instance.policy_reason, instance.policy_source, \
       instance.policy_source_detail) \
      IS DISTINCT FROM (excluded.policy, excluded.policy_reason, 'fediseer', \
                        excluded.policy_source_detail) \
RETURNING domain";

const WITHDRAW: &str = "\
UPDATE instance SET policy = 'none', policy_reason = NULL, policy_updated = now(), \
    policy_source = 'manual', policy_source_detail = NULL \
WHERE policy_source = 'fediseer' AND NOT (domain = ANY($1::text[])) \
RETURNING domain";

const RECORD_SUCCESS: &str = "\
UPDATE fediseer_sync SET last_success = now(), last_error = NULL, \
    allows = (SELECT count(*)::int FROM instance \
              WHERE policy_source = 'fediseer' AND policy = 'allow'), \
    blocks = (SELECT count(*)::int FROM instance \
              WHERE policy_source = 'fediseer' AND policy = 'block') \
RETURNING allows, blocks";

/// Records a failed sync (the entries in force are left as they are). `error` is cut to
/// 500 characters.
pub async fn record_failure(db: &Db, error: &str) -> Result<(), DbError> {
    let error: String = error.chars().take(500).collect();
    db.run("fediseer_record_failure", move |c| {
        diesel::sql_query("UPDATE fediseer_sync SET last_failure = now(), last_error = $1")
            .bind::<Text, _>(error)
            .execute(c)
            .map(|r| r.map(|_| ()))
            .boxed()
    })
    .await
}

/// The sync's state.
pub async fn status(db: &Db) -> Result<SyncStatus, DbError> {
    db.run("fediseer_status", |c| {
        diesel::sql_query(
            "SELECT started, last_success, last_failure, last_error, allows, blocks \
             FROM fediseer_sync",
        )
        .get_result(c)
        .boxed()
    })
    .await
}
