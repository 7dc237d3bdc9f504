//! The review queue: journal rows a policy of the chain holds (`state = 'held'`), and the
//! admin's approval or rejection (`sluice review`, the console's Journal page). Approving
//! puts the row back to `pending` with the holding policy added to `policy_approved`, so
//! the pipeline applies it skipping that policy; rejecting ends it `ignored`
//! (`ReviewRejected`), replayable like any ignored row. Both are recorded in
//! `policy_decision`.

use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use futures::FutureExt;

/// A held activity.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct HeldRow {
    /// The row.
    #[diesel(embed)]
    #[serde(flatten)]
    pub head: crate::ingest::journal::JournalHead,
    /// The policy that holds it.
    #[diesel(sql_type = Nullable<Text>)]
    pub policy: Option<String>,
    /// Why.
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
}

/// The oldest `limit` held rows.
pub async fn list_held(db: &Db, limit: i64) -> Result<Vec<HeldRow>, DbError> {
    db.run("review_list", move |c| {
        crate::sql(
            "SELECT r.id, r.activity_id, r.actor, r.kind, r.received_at, d.policy, d.reason \
             FROM received_activity r \
             LEFT JOIN LATERAL (SELECT policy, reason FROM policy_decision \
                 WHERE journal_id = r.id AND action = 'hold' ORDER BY id DESC LIMIT 1) d ON true \
             WHERE r.state = 'held' ORDER BY r.id LIMIT $1",
        )
        .bind::<BigInt, _>(limit)
        .load(c)
        .boxed()
    })
    .await
}

#[derive(diesel::QueryableByName)]
struct Decided {
    #[diesel(sql_type = BigInt)]
    journal_id: i64,
}

const APPROVE: &str = "\
WITH d AS (
    SELECT policy FROM policy_decision
    WHERE journal_id = $1 AND action = 'hold' ORDER BY id DESC LIMIT 1
), u AS (
    UPDATE received_activity
    SET state = 'pending', attempts = 0, next_attempt_at = now(), error_code = NULL,
        error = NULL, processed_at = NULL, lease_owner = NULL, lease_until = NULL,
        policy_approved = array_append(policy_approved, (SELECT policy FROM d))
    WHERE id = $2 AND state = 'held' AND EXISTS (SELECT 1 FROM d)
    RETURNING id, activity_id
)
INSERT INTO policy_decision (journal_id, activity_id, policy, action, reason)
SELECT u.id, u.activity_id, d.policy, 'approve', $3 FROM u, d
RETURNING journal_id";

const REJECT: &str = "\
WITH d AS (
    SELECT policy FROM policy_decision
    WHERE journal_id = $1 AND action = 'hold' ORDER BY id DESC LIMIT 1
), u AS (
    UPDATE received_activity
    SET state = 'ignored', error_code = 'ReviewRejected', error = $2, processed_at = now(),
        lease_owner = NULL, lease_until = NULL
    WHERE id = $3 AND state = 'held'
    RETURNING id, activity_id
)
INSERT INTO policy_decision (journal_id, activity_id, policy, action, rc, reason)
SELECT u.id, u.activity_id, COALESCE((SELECT policy FROM d), 'review'), 'review_reject',
    'ReviewRejected', $4 FROM u
RETURNING journal_id";

fn decided(rows: &[Decided], id: i64) -> bool {
    rows.iter().any(|r| r.journal_id == id)
}

/// Approves held row `id`: back to `pending`, skipping the policy that held it. False
/// when no such row is held.
pub async fn approve(db: &Db, id: i64, note: &str) -> Result<bool, DbError> {
    let note = note.to_string();
    let rows: Vec<Decided> = db
        .run("review_approve", move |c| {
            crate::sql(APPROVE)
                .bind::<BigInt, _>(id)
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(note)
                .load(c)
                .boxed()
        })
        .await?;
    Ok(decided(&rows, id))
}

/// Rejects held row `id`: `ignored` with `ReviewRejected`. False when no such row is held.
pub async fn reject(db: &Db, id: i64, note: &str) -> Result<bool, DbError> {
    let note = note.to_string();
    let rows: Vec<Decided> = db
        .run("review_reject", move |c| {
            crate::sql(REJECT)
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(note.clone())
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(note)
                .load(c)
                .boxed()
        })
        .await?;
    Ok(decided(&rows, id))
}

/// A recorded decision.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct DecisionRow {
    /// Journal id.
    #[diesel(sql_type = BigInt)]
    pub journal_id: i64,
    /// The activity's id.
    #[diesel(sql_type = Text)]
    pub activity_id: String,
    /// The policy.
    #[diesel(sql_type = Text)]
    pub policy: String,
    /// What it did.
    #[diesel(sql_type = Text)]
    pub action: String,
    /// Its code.
    #[diesel(sql_type = Nullable<Text>)]
    pub rc: Option<String>,
    /// Why.
    #[diesel(sql_type = Text)]
    pub reason: String,
    /// When.
    #[diesel(sql_type = Timestamptz)]
    pub decided_at: DateTime<Utc>,
}

/// The newest `limit` decisions.
pub async fn decisions(db: &Db, limit: i64) -> Result<Vec<DecisionRow>, DbError> {
    db.run("policy_decisions", move |c| {
        crate::sql(
            "SELECT journal_id, activity_id, policy, action, rc, reason, decided_at \
             FROM policy_decision ORDER BY id DESC LIMIT $1",
        )
        .bind::<BigInt, _>(limit)
        .load(c)
        .boxed()
    })
    .await
}
