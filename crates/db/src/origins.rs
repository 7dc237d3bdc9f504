//! What other instances publish about whom they federate with: the origin lists behind
//! protected boosts (docs/security.md, "Protected boosts").
//!
//! The reader (`sluice_origins`) claims the origins due for a read, and stores what it read
//! or that it failed. The lists are used by the append statement of
//! [`crate::outbound`]: an activity relayed to a community's followers whose embedded
//! activity comes from an allow-list origin reaches only the follower instances that
//! origin allows.

use crate::{Db, DbError};
use diesel::sql_types::{Array, Double, Text};
use diesel_async::RunQueryDsl;
use futures::FutureExt;
use std::time::Duration;

const DUE: &str = "\
WITH p AS (SELECT $1::bigint AS lim, $2::float8 AS claim),
cand AS (
    SELECT DISTINCT i.domain
    FROM community c
    JOIN community_follow f ON f.community_id = c.id AND f.state = 'accepted'
    JOIN person p ON p.id = f.person_id AND NOT p.local
    JOIN instance i ON i.id = p.instance_id AND i.policy <> 'block'
    WHERE c.local
), added AS (
    INSERT INTO origin_federation (origin) SELECT domain FROM cand
    ON CONFLICT (origin) DO NOTHING
)
UPDATE origin_federation o SET next_fetch_at = now() + make_interval(secs => p.claim)
FROM p
WHERE o.origin IN (SELECT origin FROM origin_federation WHERE next_fetch_at <= now()
                   ORDER BY next_fetch_at LIMIT p.lim FOR UPDATE SKIP LOCKED)
RETURNING o.origin";

/// Adds the instances of our communities' remote followers as origins (read from the next
/// call on), and claims up to `limit` origins whose list is due, for `claim` (processes
/// sharing the database do not read the same origin at once; an unfinished read is due
/// again after `claim`).
pub async fn due(db: &Db, limit: i64, claim: Duration) -> Result<Vec<String>, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        origin: String,
    }
    let rows: Vec<Row> = db
        .run("origins_due", move |c| {
            crate::sql(DUE)
                .bind::<diesel::sql_types::BigInt, _>(limit)
                .bind::<Double, _>(claim.as_secs_f64())
                .load(c)
                .boxed()
        })
        .await?;
    Ok(rows.into_iter().map(|r| r.origin).collect())
}

const STORE: &str = "\
WITH p AS (SELECT $1::text AS origin, $2::text[] AS allowed, $3::float8 AS refresh),
o AS (
    UPDATE origin_federation f SET allowlist = cardinality(p.allowed) > 0, fetched_at = now(),
        next_fetch_at = now() + make_interval(secs => p.refresh), failures = 0,
        last_error = NULL
    FROM p
    WHERE f.origin = p.origin
    RETURNING f.origin
), gone AS (
    DELETE FROM origin_allowed a USING o, p
    WHERE a.origin = o.origin AND NOT (a.domain = ANY (p.allowed))
)
INSERT INTO origin_allowed (origin, domain)
SELECT o.origin, d FROM o, p, unnest(p.allowed) AS d
ON CONFLICT DO NOTHING";

/// Stores what `origin` publishes: the instances it allows (empty: it is not in allow-list
/// mode, or publishes no list), read again after `refresh`.
pub async fn store(
    db: &Db,
    origin: &str,
    allowed: Vec<String>,
    refresh: Duration,
) -> Result<(), DbError> {
    let origin = origin.to_string();
    db.run("origins_store", move |c| {
        crate::sql(STORE)
            .bind::<Text, _>(origin)
            .bind::<Array<Text>, _>(allowed)
            .bind::<Double, _>(refresh.as_secs_f64())
            .execute(c)
            .map(|r| r.map(|_| ()))
            .boxed()
    })
    .await
}

/// Records a failed read of `origin`: the last list stays in force, read again after
/// `base` doubled per consecutive failure before this one, at most `max` (failures are
/// remembered, so a peer that is down is not asked again at every pass).
pub async fn failed(
    db: &Db,
    origin: &str,
    error: &str,
    base: Duration,
    max: Duration,
) -> Result<(), DbError> {
    let (origin, error) = (
        origin.to_string(),
        error.chars().take(500).collect::<String>(),
    );
    db.run("origins_failed", move |c| {
        crate::sql(
            "UPDATE origin_federation f SET failures = f.failures + 1, last_error = p.error, \
                 next_fetch_at = now() + make_interval(secs => \
                     LEAST(p.base * power(2, LEAST(f.failures, 30)), p.max)) \
             FROM (SELECT $1::text AS origin, $2::text AS error, $3::float8 AS base, \
                          $4::float8 AS max) p \
             WHERE f.origin = p.origin",
        )
        .bind::<Text, _>(origin)
        .bind::<Text, _>(error)
        .bind::<Double, _>(base.as_secs_f64())
        .bind::<Double, _>(max.as_secs_f64())
        .execute(c)
        .map(|r| r.map(|_| ()))
        .boxed()
    })
    .await
}
