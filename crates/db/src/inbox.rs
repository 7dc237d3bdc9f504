//! What the inbox receiver asks of the database: its one write per acknowledgement (the
//! group-commit journal append), the background probe it polls off the request path, and
//! the names of local actors (so an unknown inbox costs no round-trip).

use diesel::sql_types::{Array, BigInt, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One verified activity to journal.
#[derive(Debug, Clone)]
pub struct NewReceived {
    /// The activity's id (dedup key).
    pub activity_id: String,
    /// Its actor.
    pub actor: String,
    /// Its top-level type.
    pub kind: String,
    /// The exact JSON text received (already validated; stored byte for byte).
    pub raw: String,
    /// The signer, when it is not the actor (a forwarded activity).
    pub signer: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct Inserted {
    #[diesel(sql_type = Text)]
    activity_id: String,
}

// One statement for any batch size (arrays), so it is prepared once per connection. The
// ORDER BY keeps journal order = arrival order within the batch. An id already journaled,
// or twice in the batch, is skipped: RETURNING lists only the rows actually inserted.
const APPEND: &str = "\
INSERT INTO received_activity (activity_id, actor, kind, raw, signer)
SELECT activity_id, actor, kind, raw, signer
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
    AS t(activity_id, actor, kind, raw, signer, ord)
ORDER BY ord
ON CONFLICT (activity_id) DO NOTHING
RETURNING activity_id";

// The same insert with the time each activity was received (the local journal acknowledges
// before the database sees the row, so `now()` would be the drain's time, not the arrival's).
const APPEND_RECEIVED_AT: &str = "\
INSERT INTO received_activity (activity_id, actor, kind, raw, signer, received_at)
SELECT activity_id, actor, kind, raw, signer, received_at
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
    WITH ORDINALITY AS t(activity_id, actor, kind, raw, signer, received_at, ord)
ORDER BY ord
ON CONFLICT (activity_id) DO NOTHING
RETURNING activity_id";

/// Appends `rows` to the journal in one statement (one round-trip once prepared; it
/// commits on its own). Returns the ids actually inserted; the others were duplicates.
pub async fn append(
    c: &mut AsyncPgConnection,
    rows: &[NewReceived],
) -> diesel::QueryResult<Vec<String>> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut actors = Vec::with_capacity(rows.len());
    let mut kinds = Vec::with_capacity(rows.len());
    let mut raws = Vec::with_capacity(rows.len());
    let mut signers = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.activity_id.clone());
        actors.push(r.actor.clone());
        kinds.push(r.kind.clone());
        raws.push(r.raw.clone());
        signers.push(r.signer.clone());
    }
    let inserted: Vec<Inserted> = crate::sql(APPEND)
        .bind::<Array<Text>, _>(ids)
        .bind::<Array<Text>, _>(actors)
        .bind::<Array<Text>, _>(kinds)
        .bind::<Array<Text>, _>(raws)
        .bind::<Array<Nullable<Text>>, _>(signers)
        .load(c)
        .await?;
    Ok(inserted.into_iter().map(|i| i.activity_id).collect())
}

/// [`append`] with each row's `received_at` given (`times[i]` for `rows[i]`): the local
/// journal's drain. One statement, one round-trip once prepared.
pub async fn append_received_at(
    c: &mut AsyncPgConnection,
    rows: &[NewReceived],
    times: &[chrono::DateTime<chrono::Utc>],
) -> diesel::QueryResult<Vec<String>> {
    let col = |f: fn(&NewReceived) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let signers: Vec<Option<String>> = rows.iter().map(|r| r.signer.clone()).collect();
    let inserted: Vec<Inserted> = crate::sql(APPEND_RECEIVED_AT)
        .bind::<Array<Text>, _>(col(|r| r.activity_id.clone()))
        .bind::<Array<Text>, _>(col(|r| r.actor.clone()))
        .bind::<Array<Text>, _>(col(|r| r.kind.clone()))
        .bind::<Array<Text>, _>(col(|r| r.raw.clone()))
        .bind::<Array<Nullable<Text>>, _>(signers)
        .bind::<Array<diesel::sql_types::Timestamptz>, _>(times.to_vec())
        .load(c)
        .await?;
    Ok(inserted.into_iter().map(|i| i.activity_id).collect())
}

/// What the inbox polls in the background, in one statement.
#[derive(Debug, Clone, Copy, PartialEq, diesel::QueryableByName)]
pub struct Probe {
    /// `policy_generation.generation`: reload the policy when it changes.
    #[diesel(sql_type = BigInt)]
    pub policy_generation: i64,
    /// Local actors (rows of `local_key`, which only grows): reload names when it changes.
    #[diesel(sql_type = BigInt)]
    pub local_actors: i64,
    /// Unprocessed journal rows, counted up to the cap given (a bounded scan).
    #[diesel(sql_type = BigInt)]
    pub depth: i64,
    /// Age in seconds of the oldest journal row not yet tried by the pipeline.
    #[diesel(sql_type = Nullable<Double>)]
    pub lag_seconds: Option<f64>,
    /// Journal rows a policy holds for review, counted up to the same cap.
    #[diesel(sql_type = BigInt)]
    pub held: i64,
}

/// The background probe; `depth_cap` bounds the count (a bound is all backpressure needs).
pub async fn probe(c: &mut AsyncPgConnection, depth_cap: i64) -> diesel::QueryResult<Probe> {
    crate::sql(
        "SELECT (SELECT generation FROM policy_generation) AS policy_generation, \
                (SELECT count(*) FROM local_key) AS local_actors, \
                (SELECT count(*) FROM (SELECT 1 FROM received_activity \
                    WHERE state = 'pending' LIMIT $1) p) AS depth, \
                (SELECT EXTRACT(EPOCH FROM now() - received_at)::float8 FROM received_activity \
                    WHERE state = 'pending' AND attempts = 0 ORDER BY id LIMIT 1) AS lag_seconds, \
                (SELECT count(*) FROM (SELECT 1 FROM received_activity \
                    WHERE state = 'held' LIMIT $2) h) AS held",
    )
    .bind::<BigInt, _>(depth_cap)
    .bind::<BigInt, _>(depth_cap)
    .get_result(c)
    .await
}

#[derive(diesel::QueryableByName)]
struct LocalName {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
}

/// Local actor names, lower case: `(communities, persons)`.
pub async fn local_actor_names(
    c: &mut AsyncPgConnection,
) -> diesel::QueryResult<(Vec<String>, Vec<String>)> {
    let rows: Vec<LocalName> = crate::sql(
        "SELECT 'c' AS kind, lower(name) AS name FROM community WHERE local \
         UNION ALL SELECT 'u', lower(name) FROM person WHERE local",
    )
    .load(c)
    .await?;
    let (mut communities, mut persons) = (Vec::new(), Vec::new());
    for r in rows {
        if r.kind == "c" {
            communities.push(r.name);
        } else {
            persons.push(r.name);
        }
    }
    Ok((communities, persons))
}
