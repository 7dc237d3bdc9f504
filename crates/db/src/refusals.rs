//! Inbox refusals per instance and rc, by hour (`inbound_refusal`). The inbox counts them
//! in memory and adds its counts here once a minute, so the request path never writes.

use crate::{Db, DbError};
use diesel::sql_types::{Array, BigInt, Double, Text};
use diesel_async::RunQueryDsl;
use futures::FutureExt;

/// Refusals counted by one process since its last flush.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Counted {
    /// The actor's host (or `(other)` beyond the counter's bound).
    #[diesel(sql_type = Text)]
    pub domain: String,
    /// The refusal's rc.
    #[diesel(sql_type = Text)]
    pub rc: String,
    /// How many.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Adds `rows` to the current hour's counts, in one statement.
pub async fn add(db: &Db, rows: Vec<Counted>) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let domains: Vec<String> = rows.iter().map(|r| r.domain.clone()).collect();
    let rcs: Vec<String> = rows.iter().map(|r| r.rc.clone()).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.count).collect();
    db.run("refusals_add", move |c| {
        crate::sql(
            "INSERT INTO inbound_refusal (domain, rc, hour, count) \
             SELECT d, r, date_trunc('hour', now()), sum(n) \
               FROM unnest($1::text[], $2::text[], $3::int8[]) AS u(d, r, n) GROUP BY d, r \
             ON CONFLICT (domain, rc, hour) \
             DO UPDATE SET count = inbound_refusal.count + excluded.count",
        )
        .bind::<Array<Text>, _>(domains)
        .bind::<Array<Text>, _>(rcs)
        .bind::<Array<BigInt>, _>(counts)
        .execute(c)
        .boxed()
    })
    .await
    .map(|_| ())
}

/// Deletes the hours older than `older_than_secs`; returns how many rows went.
pub async fn prune(db: &Db, older_than_secs: f64) -> Result<usize, DbError> {
    db.run("refusals_prune", move |c| {
        crate::sql(
            "DELETE FROM inbound_refusal \
              WHERE hour < now() - make_interval(secs => $1)",
        )
        .bind::<Double, _>(older_than_secs)
        .execute(c)
        .boxed()
    })
    .await
}

/// The counts since the start of the previous clock hour, summed per host and rc, most
/// first (at most `limit` rows).
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Counted>, DbError> {
    db.run("refusals_recent", move |c| {
        crate::sql(
            "SELECT domain, rc, sum(count)::int8 AS count FROM inbound_refusal \
              WHERE hour >= date_trunc('hour', now() - interval '1 hour') \
              GROUP BY domain, rc ORDER BY count DESC, domain, rc LIMIT $1",
        )
        .bind::<BigInt, _>(limit)
        .load(c)
        .boxed()
    })
    .await
}
