//! The received-activity journal as the pipeline sees it: claim rows, mark them, and the
//! admin's dead-letter view (`sluice journal failed`, `sluice journal replay`).
//!
//! Claiming is one statement (`FOR UPDATE SKIP LOCKED` inside an `UPDATE .. RETURNING`):
//! several processes share one journal, each row leased by at most one of them, in journal
//! order. A lease that runs out (its process died) makes the row claimable again; `attempts`
//! counts claims, so a row that keeps killing its process still ends `failed`.
//!
//! Leases are kept honest three ways: a running batch renews its rows' leases ([`renew`]);
//! every mark is fenced by the lease owner ([`mark`]), so a batch whose rows went to another
//! process writes nothing; and a process starting again frees the leases its previous run
//! left ([`release_stale`]), so a crash does not make those rows wait out the lease.

use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;

/// A journal row `claim` leased to this processor: the activity as received and what the
/// receiver verified about it.
#[derive(Debug, Clone)]
pub struct ClaimedActivity {
    /// Journal id (order).
    pub id: i64,
    /// The activity's id.
    pub activity_id: String,
    /// Its actor, as the receiver verified it.
    pub actor: String,
    /// Top-level type.
    pub kind: String,
    /// The activity, parsed from the exact bytes received (`Null` if they are not JSON,
    /// which the receiver never journals: the pipeline then fails the row as malformed).
    pub raw: serde_json::Value,
    /// When the receiver committed it.
    pub received_at: DateTime<Utc>,
    /// Claims so far, this one included.
    pub attempts: i32,
    /// Who signed it, when not its actor (inbox forwarding): the activity counts only as
    /// fetched from its origin.
    pub signer: Option<String>,
    /// Policies of the chain an admin overruled for this row (it was held, then approved).
    pub approved: Vec<String>,
}

/// A claimed row as stored: `raw` is the body's exact text.
#[derive(diesel::QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    activity_id: String,
    #[diesel(sql_type = Text)]
    actor: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    raw: String,
    #[diesel(sql_type = Timestamptz)]
    received_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    signer: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    policy_approved: Vec<String>,
}

impl From<ClaimedRow> for ClaimedActivity {
    fn from(r: ClaimedRow) -> ClaimedActivity {
        ClaimedActivity {
            raw: serde_json::from_str(&r.raw).unwrap_or(serde_json::Value::Null),
            id: r.id,
            activity_id: r.activity_id,
            actor: r.actor,
            kind: r.kind,
            received_at: r.received_at,
            attempts: r.attempts,
            signer: r.signer,
            approved: r.policy_approved,
        }
    }
}

const CLAIM: &str = "\
WITH c AS (
    SELECT id FROM received_activity
    WHERE state = 'pending' AND next_attempt_at <= now()
      AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $1)
    ORDER BY id LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE received_activity r
SET lease_owner = $3, lease_until = now() + make_interval(secs => $4),
    attempts = r.attempts + CASE WHEN r.lease_owner = $5 THEN 0 ELSE 1 END
FROM c WHERE r.id = c.id
RETURNING r.id, r.activity_id, r.actor, r.kind, r.raw, r.received_at, r.attempts, r.signer,
    r.policy_approved";

/// Claims up to `limit` due rows for `owner` for `lease_secs` seconds; returned in journal
/// order. One statement: pipeline it with others when possible.
///
/// Rows still leased to `owner` itself are due too: an owner runs one batch at a time, so
/// at its next claim they are leftovers of a batch that could not put them back (the
/// database went away mid-batch), and need not wait out their lease. Such a claim is not
/// counted as an attempt: the trouble was ours, not the activity's (a process that dies on
/// a row gets a new owner id at restart, so poison rows are still counted).
pub async fn claim(
    c: &AsyncPgConnection,
    limit: i64,
    owner: &str,
    lease_secs: f64,
) -> diesel::QueryResult<Vec<ClaimedActivity>> {
    let rows: Vec<ClaimedRow> = crate::sql(CLAIM)
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(owner)
        .bind::<Double, _>(lease_secs)
        .bind::<Text, _>(owner)
        .load(&mut &*c)
        .await?;
    let mut rows: Vec<ClaimedActivity> = rows.into_iter().map(ClaimedActivity::from).collect();
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// How a processed row ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Applied.
    Done,
    /// Understood, nothing to store (`error_code` says why).
    Ignored,
    /// Given up (`error_code` says why); kept for `sluice journal replay`.
    Failed,
    /// Try again after `retry_in` seconds.
    Retry,
    /// A policy holds it for an admin's review (`sluice review`).
    Held,
}

impl Verdict {
    fn state(self) -> &'static str {
        match self {
            Verdict::Done => "done",
            Verdict::Ignored => "ignored",
            Verdict::Failed => "failed",
            Verdict::Retry => "pending",
            Verdict::Held => "held",
        }
    }
}

/// The end of one journal row.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Journal id.
    pub id: i64,
    /// Outcome.
    pub verdict: Verdict,
    /// The `rc` (ignored, failed, retried).
    pub error_code: Option<String>,
    /// A message for the admin.
    pub error: Option<String>,
    /// Seconds until the next attempt (`Retry` only).
    pub retry_in: f64,
    /// The lease owner marking it: a row leased to anyone else is not marked.
    pub owner: String,
    /// The mark is part of work done under the lease (a batch's write): if the row is no
    /// longer leased to `owner`, the whole transaction aborts ([`crate::DbError::LeaseLost`]).
    /// Without it (putting rows back after our own trouble), a row leased to someone else is
    /// just skipped, and the claim is not counted as an attempt.
    pub needs_lease: bool,
}

const MARK: &str = "\
WITH t AS (
    SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[],
                         $6::text[], $7::bool[])
        AS t(id, state, error_code, error, retry_in, owner, needs_lease)
), m AS (
    UPDATE received_activity r
    SET state = t.state, error_code = t.error_code, error = t.error,
        processed_at = CASE WHEN t.state = 'pending' THEN NULL ELSE now() END,
        next_attempt_at = CASE WHEN t.state = 'pending'
            THEN now() + make_interval(secs => t.retry_in) ELSE r.next_attempt_at END,
        lease_owner = NULL, lease_until = NULL,
        attempts = CASE WHEN t.needs_lease THEN r.attempts ELSE greatest(r.attempts - 1, 0) END
    FROM t WHERE r.id = t.id AND r.lease_owner = t.owner
    RETURNING r.id
)
SELECT sluice_journal_fence(count(*)) FROM t
WHERE t.needs_lease AND t.id NOT IN (SELECT id FROM m)";

/// Marks rows (one statement; part of the pipeline's write transaction), each only while
/// its lease is still `owner`'s; a lost lease on a row that [`Mark::needs_lease`] fails the
/// statement with SQLSTATE `SL001`, so the transaction writes nothing. Built when called,
/// sent when first polled.
pub fn mark<'a>(
    c: &'a AsyncPgConnection,
    marks: &[Mark],
) -> futures::future::BoxFuture<'a, diesel::QueryResult<usize>> {
    crate::sql(MARK)
        .bind::<Array<BigInt>, _>(marks.iter().map(|m| m.id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(marks.iter().map(|m| m.verdict.state()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(
            marks
                .iter()
                .map(|m| m.error_code.clone())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(marks.iter().map(|m| m.error.clone()).collect::<Vec<_>>())
        .bind::<Array<Double>, _>(marks.iter().map(|m| m.retry_in).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(marks.iter().map(|m| m.owner.clone()).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(marks.iter().map(|m| m.needs_lease).collect::<Vec<_>>())
        .execute(&mut &*c)
}

/// Extends the lease of those of `ids` still leased to `owner` by `lease_secs` from now
/// (a batch renews while it runs, so a slow batch keeps its rows). Returns how many.
pub async fn renew(db: &Db, ids: &[i64], owner: &str, lease_secs: f64) -> Result<usize, DbError> {
    let (ids, owner) = (ids.to_vec(), owner.to_string());
    db.run("journal_renew", move |c| {
        crate::sql(
            "UPDATE received_activity SET lease_until = now() + make_interval(secs => $1) \
             WHERE id = ANY($2::bigint[]) AND lease_owner = $3",
        )
        .bind::<Double, _>(lease_secs)
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Text, _>(owner)
        .execute(c)
        .boxed()
    })
    .await
}

/// Frees the leases a previous run of this process left behind: owners starting with
/// `group` (this process's stable identity) that are not `me` (this run). Their batches
/// died with that run; without this they would wait out the lease. Returns how many rows.
pub async fn release_stale(db: &Db, group: &str, me: &str) -> Result<usize, DbError> {
    let (group, me) = (group.to_string(), me.to_string());
    db.run("journal_release_stale", move |c| {
        crate::sql(
            "UPDATE received_activity SET lease_owner = NULL, lease_until = NULL \
             WHERE state = 'pending' AND lease_owner IS NOT NULL \
               AND starts_with(lease_owner, $1) AND NOT starts_with(lease_owner, $2)",
        )
        .bind::<Text, _>(group)
        .bind::<Text, _>(me)
        .execute(c)
        .boxed()
    })
    .await
}

/// Deletes up to `limit` done or ignored rows received more than `older_than_secs` ago,
/// oldest first (failed rows are kept for `sluice journal replay`). Rows another pruner
/// holds are skipped. Returns how many were deleted.
pub async fn prune(db: &Db, older_than_secs: f64, limit: i64) -> Result<usize, DbError> {
    db.run("journal_prune", move |c| {
        crate::sql(
            "WITH old AS ( \
                 SELECT id FROM received_activity \
                 WHERE state IN ('done', 'ignored') \
                   AND received_at < now() - make_interval(secs => $1) \
                 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             DELETE FROM received_activity r USING old WHERE r.id = old.id",
        )
        .bind::<Double, _>(older_than_secs)
        .bind::<BigInt, _>(limit)
        .execute(c)
        .boxed()
    })
    .await
}

/// What every listing of journal rows shows first (the dead-letter list, the review queue).
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct JournalHead {
    /// Journal id (what `replay`, `approve` and `reject` take).
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The activity's id.
    #[diesel(sql_type = Text)]
    pub activity_id: String,
    /// Its actor.
    #[diesel(sql_type = Text)]
    pub actor: String,
    /// Its type.
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// Received.
    #[diesel(sql_type = Timestamptz)]
    pub received_at: DateTime<Utc>,
}

/// A row of the dead-letter list.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct FailedRow {
    /// The row.
    #[diesel(embed)]
    #[serde(flatten)]
    pub head: JournalHead,
    /// Attempts made.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// The rc.
    #[diesel(sql_type = Nullable<Text>)]
    pub error_code: Option<String>,
    /// The message.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

/// The newest `limit` failed rows.
pub async fn list_failed(db: &Db, limit: i64) -> Result<Vec<FailedRow>, DbError> {
    db.run("journal_list_failed", move |c| {
        crate::sql(
            "SELECT id, activity_id, actor, kind, received_at, attempts, error_code, error \
             FROM received_activity WHERE state = 'failed' ORDER BY id DESC LIMIT $1",
        )
        .bind::<BigInt, _>(limit)
        .load(c)
        .boxed()
    })
    .await
}

#[derive(diesel::QueryableByName)]
struct Replayed {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Puts a failed or ignored row back to `pending` with a fresh attempt budget. Returns
/// false when there is no such row in either state.
pub async fn replay(db: &Db, id: i64) -> Result<bool, DbError> {
    let rows: Vec<Replayed> = db
        .run("journal_replay", move |c| {
            crate::sql(
                "UPDATE received_activity SET state = 'pending', attempts = 0, \
                 next_attempt_at = now(), error_code = NULL, error = NULL, processed_at = NULL, \
                 lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND state IN ('failed', 'ignored') RETURNING id",
            )
            .bind::<BigInt, _>(id)
            .load(c)
            .boxed()
        })
        .await?;
    Ok(rows.iter().any(|r| r.id == id))
}

#[derive(diesel::QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Puts up to `limit` failed or ignored rows whose rc is `code` back to `pending`, oldest
/// first, with a fresh attempt budget (after a policy change: what a policy refused goes
/// through the chain in force now). Returns how many.
pub async fn replay_code(db: &Db, code: &str, limit: i64) -> Result<i64, DbError> {
    let code = code.to_string();
    let rows: Vec<Counted> = db
        .run("journal_replay_code", move |c| {
            crate::sql(
                "WITH r AS ( \
                     SELECT id FROM received_activity \
                     WHERE state IN ('failed', 'ignored') AND error_code = $1 \
                     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED), \
                 u AS ( \
                     UPDATE received_activity a SET state = 'pending', attempts = 0, \
                         next_attempt_at = now(), error_code = NULL, error = NULL, \
                         processed_at = NULL, lease_owner = NULL, lease_until = NULL \
                     FROM r WHERE a.id = r.id RETURNING a.id) \
                 SELECT count(*) AS n FROM u",
            )
            .bind::<Text, _>(code)
            .bind::<BigInt, _>(limit)
            .load(c)
            .boxed()
        })
        .await?;
    Ok(rows.iter().map(|r| r.n).sum())
}
