//! The admin console's queries: its sessions and change log, and the few aggregate reads
//! its pages make (each page is one or two statements, whatever the number of instances).

use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use futures::FutureExt;

/// A live console session.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Session {
    /// The form token every POST of this session must carry.
    #[diesel(sql_type = Text)]
    pub csrf: String,
    /// The name given at login (recorded with each change).
    #[diesel(sql_type = Text)]
    pub who: String,
}

/// Stores a new session (by the hash of its cookie) and drops expired ones, in one statement.
pub async fn session_create(
    db: &Db,
    id_hash: Vec<u8>,
    csrf: String,
    who: String,
    ttl_secs: f64,
) -> Result<(), DbError> {
    db.run("admin_session_create", move |c| {
        crate::sql(
            "WITH gone AS (DELETE FROM admin_session WHERE expires_at < now()) \
             INSERT INTO admin_session (id_hash, csrf, who, expires_at) \
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .bind::<Bytea, _>(id_hash)
        .bind::<Text, _>(csrf)
        .bind::<Text, _>(who)
        .bind::<Double, _>(ttl_secs)
        .execute(c)
        .map(|r| r.map(|_| ()))
        .boxed()
    })
    .await
}

/// The unexpired session with this cookie hash.
pub async fn session_get(db: &Db, id_hash: Vec<u8>) -> Result<Option<Session>, DbError> {
    let rows: Vec<Session> = db
        .run("admin_session_get", move |c| {
            crate::sql(
                "SELECT csrf, who FROM admin_session WHERE id_hash = $1 AND expires_at > now()",
            )
            .bind::<Bytea, _>(id_hash)
            .load(c)
            .boxed()
        })
        .await?;
    Ok(rows.into_iter().next())
}

/// Ends a session (logout).
pub async fn session_delete(db: &Db, id_hash: Vec<u8>) -> Result<(), DbError> {
    db.run("admin_session_delete", move |c| {
        crate::sql("DELETE FROM admin_session WHERE id_hash = $1")
            .bind::<Bytea, _>(id_hash)
            .execute(c)
            .map(|r| r.map(|_| ()))
            .boxed()
    })
    .await
}

/// One change made from the console.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct LogEntry {
    /// When.
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    /// The name given at login.
    #[diesel(sql_type = Text)]
    pub who: String,
    /// `block`, `allow`, `unblock`, `mode`, `replay`.
    #[diesel(sql_type = Text)]
    pub action: String,
    /// The instance, mode or journal id acted on.
    #[diesel(sql_type = Text)]
    pub target: String,
    /// The reason typed, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
}

/// Records a change.
pub async fn log(
    db: &Db,
    who: String,
    action: &'static str,
    target: String,
    reason: Option<String>,
) -> Result<(), DbError> {
    db.run("admin_log_insert", move |c| {
        crate::sql("INSERT INTO admin_log (who, action, target, reason) VALUES ($1, $2, $3, $4)")
            .bind::<Text, _>(who)
            .bind::<Text, _>(action)
            .bind::<Text, _>(target)
            .bind::<Nullable<Text>, _>(reason)
            .execute(c)
            .map(|r| r.map(|_| ()))
            .boxed()
    })
    .await
}

/// The newest `limit` changes.
pub async fn log_recent(db: &Db, limit: i64) -> Result<Vec<LogEntry>, DbError> {
    db.run("admin_log_recent", move |c| {
        crate::sql(
            "SELECT at, who, action, target, reason FROM admin_log ORDER BY id DESC LIMIT $1",
        )
        .bind::<BigInt, _>(limit)
        .load(c)
        .boxed()
    })
    .await
}

/// An instance's policy rule and where it came from (the columns every console query
/// selects under these names).
#[derive(Debug, Clone, QueryableByName)]
pub struct PolicyRule {
    /// `none`, `allow` or `block`.
    #[diesel(sql_type = Text)]
    pub policy: String,
    /// Why.
    #[diesel(sql_type = Nullable<Text>)]
    pub policy_reason: Option<String>,
    /// When it was set.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub policy_updated: Option<DateTime<Utc>>,
    /// `manual` or `fediseer`.
    #[diesel(sql_type = Text)]
    pub policy_source: String,
    /// For a synced policy: the feelers or sources that gave it.
    #[diesel(sql_type = Nullable<Text>)]
    pub policy_source_detail: Option<String>,
    /// For a manual policy: who set it, as the change log has it (console or command line).
    #[diesel(sql_type = Nullable<Text>)]
    pub policy_by: Option<String>,
}

/// One instance's policy and where it came from, as the Policies page lists it.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct PolicyRow {
    /// host[:port].
    #[diesel(sql_type = Text)]
    pub domain: String,
    /// The rule and its origin.
    #[diesel(embed)]
    pub rule: PolicyRule,
}

/// Every instance with a policy, with its origin (who set a manual one is the newest
/// matching change in `admin_log`, an index lookup per row).
pub async fn policies(db: &Db) -> Result<Vec<PolicyRow>, DbError> {
    db.run("admin_policies", move |c| {
        crate::sql(
            "SELECT i.domain, i.policy, i.policy_reason, i.policy_updated, i.policy_source, \
                    i.policy_source_detail, \
                    CASE WHEN i.policy_source = 'manual' THEN \
                      (SELECT l.who FROM admin_log l WHERE l.target = i.domain \
                          AND l.action = i.policy ORDER BY l.id DESC LIMIT 1) END AS policy_by \
               FROM instance i WHERE i.policy <> 'none' ORDER BY i.domain",
        )
        .load(c)
        .boxed()
    })
    .await
}

/// The journal's state for the overview, in one statement. Counts are bounded scans of
/// partial or time indexes: the last five minutes, the pending and failed rows (capped).
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct JournalHealth {
    /// Rows received in the last five minutes (any state).
    #[diesel(sql_type = BigInt)]
    pub received_5m: i64,
    /// Rows the pipeline finished (`done` or `ignored`) in the last five minutes.
    #[diesel(sql_type = BigInt)]
    pub processed_5m: i64,
    /// Pending rows, counted up to the cap.
    #[diesel(sql_type = BigInt)]
    pub depth: i64,
    /// Age in seconds of the oldest pending row.
    #[diesel(sql_type = Nullable<Double>)]
    pub lag_seconds: Option<f64>,
    /// Failed rows, counted up to the cap.
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Rows a policy holds for review, counted up to the cap.
    #[diesel(sql_type = BigInt)]
    pub held: i64,
    /// Known remote instances.
    #[diesel(sql_type = BigInt)]
    pub instances: i64,
    /// `open` or `allowlist`.
    #[diesel(sql_type = Text)]
    pub mode: String,
}

/// Reads [`JournalHealth`]; `cap` bounds the pending and failed counts.
pub async fn journal_health(db: &Db, cap: i64) -> Result<JournalHealth, DbError> {
    db.run("admin_journal_health", move |c| {
        crate::sql(
            "WITH cap AS (SELECT $1::bigint AS n) SELECT \
               (SELECT count(*) FROM received_activity \
                  WHERE received_at > now() - interval '5 minutes' \
                    AND state IN ('done', 'ignored')) \
             + (SELECT count(*) FROM received_activity \
                  WHERE state = 'pending' AND received_at > now() - interval '5 minutes') \
             + (SELECT count(*) FROM received_activity \
                  WHERE state = 'failed' AND received_at > now() - interval '5 minutes') \
               AS received_5m, \
               (SELECT count(*) FROM received_activity \
                  WHERE received_at > now() - interval '1 hour' \
                    AND state IN ('done', 'ignored') \
                    AND processed_at > now() - interval '5 minutes') AS processed_5m, \
               (SELECT count(*) FROM (SELECT 1 FROM received_activity \
                  WHERE state = 'pending' LIMIT (SELECT n FROM cap)) p) AS depth, \
               (SELECT EXTRACT(EPOCH FROM now() - received_at)::float8 FROM received_activity \
                  WHERE state = 'pending' ORDER BY id LIMIT 1) AS lag_seconds, \
               (SELECT count(*) FROM (SELECT 1 FROM received_activity \
                  WHERE state = 'failed' LIMIT (SELECT n FROM cap)) f) AS failed, \
               (SELECT count(*) FROM (SELECT 1 FROM received_activity \
                  WHERE state = 'held' LIMIT (SELECT n FROM cap)) h) AS held, \
               (SELECT count(*) FROM instance) AS instances, \
               (SELECT mode FROM policy_generation) AS mode",
        )
        .bind::<BigInt, _>(cap)
        .get_result(c)
        .boxed()
    })
    .await
}

/// One instance as the console lists it: policy, inbound over the last hour, outbound state.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct InstanceRow {
    /// host[:port].
    #[diesel(sql_type = Text)]
    pub domain: String,
    /// Software from nodeinfo, when known.
    #[diesel(sql_type = Nullable<Text>)]
    pub software: Option<String>,
    /// Its policy rule and where it came from.
    #[diesel(embed)]
    pub rule: PolicyRule,
    /// Inbox refusals attributed to it since the start of the previous clock hour, by rc,
    /// most frequent first (`rc n, rc n`), from `inbound_refusal`.
    #[diesel(sql_type = Nullable<Text>)]
    pub refusals: Option<String>,
    /// Their total.
    #[diesel(sql_type = BigInt)]
    pub refused_1h: i64,
    /// Activities journaled from its actors in the last hour.
    #[diesel(sql_type = BigInt)]
    pub received_1h: i64,
    /// The newest of them.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_received: Option<DateTime<Utc>>,
    /// Of them, failed in the pipeline.
    #[diesel(sql_type = BigInt)]
    pub failed_1h: i64,
    /// Delivery state (`active`, `dead`), when anything was ever sent to it.
    #[diesel(sql_type = Nullable<Text>)]
    pub out_state: Option<String>,
    /// Activities queued for it and not delivered.
    #[diesel(sql_type = BigInt)]
    pub lag_activities: i64,
    /// Age of the oldest of them, seconds.
    #[diesel(sql_type = Double)]
    pub lag_seconds: f64,
    /// Last successful delivery.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last delivery error.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// Next delivery attempt when backing off.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Consecutive delivery failures.
    #[diesel(sql_type = Integer)]
    pub fail_count: i32,
}

// The inbound aggregate reads the journal rows of the last hour only, through the indexes
// that exist (received_at for finished rows, the partial indexes for pending and failed):
// its cost follows the last hour's traffic, not the journal's size or the instance count.
// A journal row's instance is its actor's host, as the receiver checked it.
const INSTANCES_SQL: &str = "WITH wanted AS (SELECT $1::text AS domain), recent AS ( \
       SELECT lower(split_part(actor, '/', 3)) AS host, received_at, state \
         FROM received_activity \
        WHERE received_at > now() - interval '1 hour' AND state IN ('done', 'ignored') \
       UNION ALL \
       SELECT lower(split_part(actor, '/', 3)), received_at, state FROM received_activity \
        WHERE state = 'pending' AND received_at > now() - interval '1 hour' \
       UNION ALL \
       SELECT lower(split_part(actor, '/', 3)), received_at, state FROM received_activity \
        WHERE state = 'failed' AND received_at > now() - interval '1 hour'), \
     inbound AS ( \
       SELECT host, count(*) AS n, max(received_at) AS last, \
              count(*) FILTER (WHERE state = 'failed') AS failed \
         FROM recent GROUP BY host), \
     by_rc AS ( \
       SELECT domain, rc, sum(count) AS n FROM inbound_refusal \
        WHERE hour >= date_trunc('hour', now() - interval '1 hour') \
          AND ((SELECT domain FROM wanted) IS NULL OR domain = (SELECT domain FROM wanted)) \
        GROUP BY domain, rc), \
     refused AS ( \
       SELECT domain, sum(n)::int8 AS total, string_agg(rc || ' ' || n, ', ' ORDER BY n DESC, rc) AS list \
         FROM by_rc GROUP BY domain) \
     SELECT i.domain, i.software, i.policy, i.policy_reason, i.policy_updated, \
            i.policy_source, i.policy_source_detail, \
            CASE WHEN i.policy <> 'none' AND i.policy_source = 'manual' THEN \
              (SELECT l.who FROM admin_log l WHERE l.target = i.domain AND l.action = i.policy \
                ORDER BY l.id DESC LIMIT 1) END AS policy_by, \
            x.list AS refusals, COALESCE(x.total, 0) AS refused_1h, \
            COALESCE(r.n, 0) AS received_1h, r.last AS last_received, \
            COALESCE(r.failed, 0) AS failed_1h, d.state AS out_state, \
            COALESCE((SELECT count(*) FROM outbound_target t \
               WHERE t.instance_id = d.instance_id AND t.outbound_id > d.last_delivered_id), 0) \
               AS lag_activities, \
            COALESCE((SELECT extract(epoch FROM now() - a.created_at)::float8 \
               FROM outbound_target t JOIN outbound_activity a ON a.id = t.outbound_id \
               WHERE t.instance_id = d.instance_id AND t.outbound_id > d.last_delivered_id \
               ORDER BY t.outbound_id LIMIT 1), 0) AS lag_seconds, \
            d.last_success_at, d.last_error, d.next_retry_at, COALESCE(d.fail_count, 0) AS fail_count \
       FROM instance i \
       LEFT JOIN inbound r ON r.host = i.domain \
       LEFT JOIN refused x ON x.domain = i.domain \
       LEFT JOIN delivery_state d ON d.instance_id = i.id \
      WHERE (SELECT domain FROM wanted) IS NULL OR i.domain = (SELECT domain FROM wanted) \
      ORDER BY i.domain";

/// Every known instance, or only `domain` when given.
pub async fn instances(db: &Db, domain: Option<String>) -> Result<Vec<InstanceRow>, DbError> {
    db.run("admin_instances", move |c| {
        crate::sql(INSTANCES_SQL)
            .bind::<Nullable<Text>, _>(domain)
            .load(c)
            .boxed()
    })
    .await
}

/// Receipt-to-applied latency of one instance's activities over one time bucket.
#[derive(Debug, Clone, Copy, diesel::QueryableByName)]
pub struct LatencyBucket {
    /// Seconds from the window's start to this bucket's start.
    #[diesel(sql_type = Double)]
    pub offset_secs: f64,
    /// Activities finished in the bucket.
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    /// Median seconds from journal commit to applied.
    #[diesel(sql_type = Double)]
    pub p50: f64,
    /// 99th percentile of the same.
    #[diesel(sql_type = Double)]
    pub p99: f64,
}

/// One instance's receipt-to-applied latency over the last `hours`, in `bucket_secs`
/// buckets (empty buckets are absent). Reads the finished journal rows of that window.
pub async fn latency(
    db: &Db,
    domain: String,
    hours: f64,
    bucket_secs: f64,
) -> Result<Vec<LatencyBucket>, DbError> {
    db.run("admin_latency", move |c| {
        crate::sql(
            "WITH p AS (SELECT $1::text AS domain, now() - make_interval(hours => $2) AS since, \
                               $3::float8 AS width) \
             SELECT (floor(extract(epoch FROM received_at - p.since) / p.width) * p.width)::float8 \
                      AS offset_secs, \
                    count(*) AS n, \
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))::float8 AS p50, \
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))::float8 AS p99 \
               FROM received_activity, p \
              WHERE received_at > p.since \
                AND state IN ('done', 'ignored') AND processed_at IS NOT NULL \
                AND lower(split_part(actor, '/', 3)) = p.domain \
              GROUP BY 1 ORDER BY 1",
        )
        .bind::<Text, _>(domain)
        .bind::<Integer, _>(hours as i32)
        .bind::<Double, _>(bucket_secs)
        .load(c)
        .boxed()
    })
    .await
}

/// A failed journal row (as `sluice journal failed` lists it) with the exact bytes received.
#[derive(Debug, Clone, QueryableByName)]
pub struct FailedActivity {
    /// What `sluice journal failed` shows of it.
    #[diesel(embed)]
    pub listed: crate::ingest::journal::FailedRow,
    /// The body exactly as the peer sent it.
    #[diesel(sql_type = Text)]
    pub raw: String,
}

/// The newest `limit` failed rows with the exact bytes received (text: the journal keeps
/// them as sent, and a cast to jsonb would fail on some valid JSON, e.g. `\u0000`).
pub async fn failed(db: &Db, limit: i64) -> Result<Vec<FailedActivity>, DbError> {
    db.run("admin_failed", move |c| {
        crate::sql(
            "SELECT id, activity_id, actor, kind, received_at, attempts, error_code, error, raw \
               FROM received_activity WHERE state = 'failed' ORDER BY id DESC LIMIT $1",
        )
        .bind::<BigInt, _>(limit)
        .load(c)
        .boxed()
    })
    .await
}
