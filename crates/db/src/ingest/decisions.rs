//! `policy_decision` rows the pipeline writes in its batch transaction: what the policy
//! chain did to an activity (reject, rewrite, no relay, hold), beside the journal mark it
//! explains. One statement, pipelined with the rest of the write.

use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;
use futures::future::BoxFuture;

/// One verdict of the chain on one journal row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDecision {
    /// The journal row.
    pub journal_id: i64,
    /// Its activity id.
    pub activity_id: String,
    /// The policy's name in the chain.
    pub policy: String,
    /// `reject`, `rewrite`, `no_relay` or `hold`.
    pub action: &'static str,
    /// The code of a rejection or hold.
    pub rc: Option<String>,
    /// Why.
    pub reason: String,
}

const INSERT: &str = "\
INSERT INTO policy_decision (journal_id, activity_id, policy, action, rc, reason)
SELECT t.journal_id, t.activity_id, t.policy, t.action, t.rc, t.reason
FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
    AS t(journal_id, activity_id, policy, action, rc, reason)
WHERE EXISTS (SELECT 1 FROM received_activity r WHERE r.id = t.journal_id)";

/// Inserts `rows` (rows of journal ids that do not exist, as a local publish has, are
/// skipped).
pub fn insert<'a>(
    c: &'a AsyncPgConnection,
    rows: &[NewDecision],
) -> BoxFuture<'a, diesel::QueryResult<usize>> {
    let col = |f: fn(&NewDecision) -> String| rows.iter().map(f).collect::<Vec<String>>();
    crate::sql(INSERT)
        .bind::<Array<BigInt>, _>(rows.iter().map(|d| d.journal_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(col(|d| d.activity_id.clone()))
        .bind::<Array<Text>, _>(col(|d| d.policy.clone()))
        .bind::<Array<Text>, _>(col(|d| d.action.to_string()))
        .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|d| d.rc.clone()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(col(|d| d.reason.clone()))
        .execute(&mut &*c)
        .boxed()
}
