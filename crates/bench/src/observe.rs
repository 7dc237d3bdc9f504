//! What the benchmark reads from the database directly (never through the proxy): the
//! journal rows of the activities it sent, the tables they should have changed, the
//! journal's backlog while a scenario runs, and `pg_stat_statements`.
//!
//! Everything is selected by the sending instances' URL prefixes (`http://127.0.1.N:PORT/%`),
//! so the checks hold on a shared database too.

use crate::Result;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use futures::FutureExt;
use sluice_db::Db;
use std::collections::HashMap;

/// A journal row's end.
#[derive(Debug, Clone, QueryableByName)]
pub struct JournalRow {
    /// The activity id.
    #[diesel(sql_type = Text)]
    pub activity_id: String,
    /// `pending`, `done`, `ignored`, `failed`.
    #[diesel(sql_type = Text)]
    pub state: String,
    /// The `rc` when ignored or failed.
    #[diesel(sql_type = Nullable<Text>)]
    pub error_code: Option<String>,
    /// `processed_at` as Unix seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub processed: Option<f64>,
}

/// The journal rows of activities whose ids start with one of `prefixes`, by activity id.
pub async fn journal(db: &Db, prefixes: &[String]) -> Result<HashMap<String, JournalRow>> {
    let likes: Vec<String> = prefixes.iter().map(|p| format!("{p}/%")).collect();
    let rows: Vec<JournalRow> = db
        .run("bench_journal", move |c| {
            async move {
                diesel::sql_query(
                    "/* sluice-bench */ SELECT activity_id, state, error_code, \
                     EXTRACT(EPOCH FROM processed_at)::float8 AS processed \
                     FROM received_activity WHERE activity_id LIKE ANY($1)",
                )
                .bind::<Array<Text>, _>(likes)
                .load(c)
                .await
            }
            .boxed()
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.activity_id.clone(), r))
        .collect())
}

/// What the threadiverse tables hold for the sending instances' content.
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct Tables {
    /// Posts.
    #[diesel(sql_type = BigInt)]
    pub posts: i64,
    /// Deleted posts.
    #[diesel(sql_type = BigInt)]
    pub posts_deleted: i64,
    /// Comments.
    #[diesel(sql_type = BigInt)]
    pub comments: i64,
    /// Deleted comments.
    #[diesel(sql_type = BigInt)]
    pub comments_deleted: i64,
    /// Vote rows by their users.
    #[diesel(sql_type = BigInt)]
    pub votes: i64,
    /// Sum of those votes' scores.
    #[diesel(sql_type = BigInt)]
    pub vote_score: i64,
    /// Sum of the posts' and comments' `score` columns (must equal `vote_score`).
    #[diesel(sql_type = BigInt)]
    pub content_score: i64,
    /// Their users' follows of local communities.
    #[diesel(sql_type = BigInt)]
    pub follows: i64,
}

/// Reads [`Tables`].
pub async fn tables(db: &Db, prefixes: &[String]) -> Result<Tables> {
    let likes: Vec<String> = prefixes.iter().map(|p| format!("{p}/%")).collect();
    Ok(db
        .run("bench_tables", move |c| {
            async move {
                diesel::sql_query(
                    "/* sluice-bench */ WITH p AS (SELECT id FROM person WHERE ap_id LIKE ANY($1)) SELECT \
                     (SELECT count(*) FROM post WHERE ap_id LIKE ANY($1)) AS posts, \
                     (SELECT count(*) FROM post WHERE ap_id LIKE ANY($1) AND deleted) AS posts_deleted, \
                     (SELECT count(*) FROM comment WHERE ap_id LIKE ANY($1)) AS comments, \
                     (SELECT count(*) FROM comment WHERE ap_id LIKE ANY($1) AND deleted) AS comments_deleted, \
                     (SELECT count(*) FROM vote WHERE person_id IN (SELECT id FROM p)) AS votes, \
                     (SELECT coalesce(sum(score), 0)::bigint FROM vote WHERE person_id IN (SELECT id FROM p)) AS vote_score, \
                     ((SELECT coalesce(sum(score), 0) FROM post WHERE ap_id LIKE ANY($1)) + \
                      (SELECT coalesce(sum(score), 0) FROM comment WHERE ap_id LIKE ANY($1)))::bigint AS content_score, \
                     (SELECT count(*) FROM community_follow f JOIN community c ON c.id = f.community_id \
                      WHERE c.local AND f.person_id IN (SELECT id FROM p)) AS follows",
                )
                .bind::<Array<Text>, _>(likes)
                .get_result(c)
                .await
            }
            .boxed()
        })
        .await?)
}

/// The journal's backlog now.
#[derive(Debug, Clone, Copy, Default, QueryableByName)]
pub struct Backlog {
    /// Pending rows.
    #[diesel(sql_type = BigInt)]
    pub depth: i64,
    /// Age of the oldest pending row, seconds (0 when none).
    #[diesel(sql_type = Double)]
    pub lag: f64,
}

/// Reads [`Backlog`] (the partial index on pending rows keeps this cheap).
pub async fn backlog(db: &Db) -> Result<Backlog> {
    Ok(db
        .run("bench_backlog", |c| {
            async move {
                diesel::sql_query(
                    "/* sluice-bench */ SELECT count(*) AS depth, \
                     coalesce(EXTRACT(EPOCH FROM clock_timestamp() - min(received_at)), 0)::float8 AS lag \
                     FROM received_activity WHERE state = 'pending'",
                )
                .get_result(c)
                .await
            }
            .boxed()
        })
        .await?)
}

/// Statement counts from `pg_stat_statements` for this database.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Statements {
    /// Journal inserts (the acknowledgement's statement; one per round-trip).
    pub journal_inserts: i64,
    /// Pipeline claims (one per claim round-trip).
    pub claims: i64,
    /// `COMMIT`s (the pipeline's write transactions end with one each).
    pub commits: i64,
    /// Every statement sluice executed (the benchmark's own left out).
    pub total: i64,
}

#[derive(QueryableByName)]
struct Stmt {
    #[diesel(sql_type = Text)]
    query: String,
    #[diesel(sql_type = BigInt)]
    calls: i64,
}

/// Forgets the statement counts (start of a measured phase).
pub async fn reset_statements(db: &Db) -> Result<()> {
    db.run("bench_pgss_reset", |c| {
        async move { c.batch_execute("SELECT pg_stat_statements_reset()").await }.boxed()
    })
    .await?;
    Ok(())
}

/// Reads the statement counts since the last reset.
pub async fn statements(db: &Db) -> Result<Statements> {
    let rows: Vec<Stmt> = db
        .run("bench_pgss", |c| {
            async move {
                diesel::sql_query(
                    "SELECT query, calls::bigint AS calls FROM pg_stat_statements \
                     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .load(c)
                .await
            }
            .boxed()
        })
        .await?;
    let mut s = Statements::default();
    for r in rows {
        let q = r.query.trim_start();
        if q.starts_with("/* sluice-bench */") || q.contains("pg_stat_statements") {
            continue;
        }
        if q.starts_with("INSERT INTO received_activity") {
            s.journal_inserts += r.calls;
        } else if q.starts_with("WITH c AS (") && q.contains("lease_owner") {
            s.claims += r.calls;
        } else if q.eq_ignore_ascii_case("commit") {
            s.commits += r.calls;
        }
        s.total += r.calls;
    }
    Ok(s)
}
