//! What tests read and write in sluice's tables, by plain SQL (the assertions read only
//! tables, so they hold whichever way the journal rows got there).

use futures::FutureExt;
use serde_json::Value;
use sluice_db::Db;
use sluice_db::diesel;
use sluice_db::diesel::sql_types::{BigInt, Bool, Integer, Jsonb, Nullable, Text};
use sluice_db::diesel_async::RunQueryDsl;

#[derive(diesel::QueryableByName)]
struct I64 {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

#[derive(diesel::QueryableByName)]
struct Txt {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    v: bool,
}

#[derive(diesel::QueryableByName)]
struct Jsn {
    #[diesel(sql_type = Jsonb)]
    v: Value,
}

/// A journal row's end (or state so far).
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct JournalRow {
    /// Journal id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// `pending`, `done`, `ignored`, `failed`.
    #[diesel(sql_type = Text)]
    pub state: String,
    /// The `rc`, when ignored, failed or waiting for a retry.
    #[diesel(sql_type = Nullable<Text>)]
    pub error_code: Option<String>,
    /// The message that goes with it.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    /// Claims so far.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

impl JournalRow {
    /// Processed for good (not waiting for a first claim or a retry).
    pub fn is_final(&self) -> bool {
        self.state != "pending"
    }
}

const ROW_BY_ID: &str =
    "SELECT id, state, error_code, error, attempts FROM received_activity WHERE id = $1";
const ROW_BY_ACTIVITY: &str =
    "SELECT id, state, error_code, error, attempts FROM received_activity WHERE activity_id = $1";

/// Plain SQL against a test database; every query is a test query, so failures panic.
/// Single-value queries name their column `v`.
#[derive(Clone)]
pub struct Rows {
    db: Db,
}

impl Rows {
    /// On `db`.
    pub fn new(db: Db) -> Rows {
        Rows { db }
    }

    /// The pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Runs a statement.
    pub async fn exec(&self, sql: impl Into<String>) {
        let sql = sql.into();
        self.db
            .run("test_exec", move |c| {
                diesel::sql_query(sql)
                    .execute(c)
                    .map(|r| r.map(|_| ()))
                    .boxed()
            })
            .await
            .unwrap_or_else(|e| panic!("test statement failed: {e}"));
    }

    /// Every row of a query.
    async fn load<T>(&self, sql: &str) -> Vec<T>
    where
        T: diesel::deserialize::QueryableByName<diesel::pg::Pg> + Send + 'static,
    {
        let sql = sql.to_string();
        let q = sql.clone();
        self.db
            .run("test_query", move |c| {
                diesel::sql_query(q).load::<T>(c).boxed()
            })
            .await
            .unwrap_or_else(|e| panic!("test query failed: {e}\n{sql}"))
    }

    /// The one row of a query.
    async fn one<T>(&self, sql: &str) -> T
    where
        T: diesel::deserialize::QueryableByName<diesel::pg::Pg> + Send + 'static,
    {
        let mut rows = self.load::<T>(sql).await;
        assert_eq!(rows.len(), 1, "expected one row from {sql}");
        rows.remove(0)
    }

    /// `SELECT <bigint> AS v` (exactly one row).
    pub async fn count(&self, sql: &str) -> i64 {
        self.one::<I64>(sql).await.v
    }

    /// `SELECT <text> AS v`: the first non-NULL value (`None` when there is none).
    pub async fn text(&self, sql: &str) -> Option<String> {
        self.texts(sql).await.into_iter().next()
    }

    /// `SELECT <text> AS v`: every row's value (NULLs left out).
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        let rows = self.load::<Txt>(sql).await;
        rows.into_iter().filter_map(|t| t.v).collect()
    }

    /// `SELECT <bool> AS v` (exactly one row).
    pub async fn flag(&self, sql: &str) -> bool {
        self.one::<Flag>(sql).await.v
    }

    /// `SELECT <jsonb> AS v`: every row's value.
    pub async fn json(&self, sql: &str) -> Vec<Value> {
        let rows = self.load::<Jsn>(sql).await;
        rows.into_iter().map(|j| j.v).collect()
    }

    /// Journal rows by state, `(state, count)` sorted by state.
    pub async fn states(&self) -> Vec<(String, i64)> {
        #[derive(diesel::QueryableByName)]
        struct S {
            #[diesel(sql_type = Text)]
            state: String,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        self.db
            .run("test_states", |c| {
                sluice_db::sql(
                    "SELECT state, count(*) AS n FROM received_activity GROUP BY state ORDER BY state",
                )
                .load::<S>(c)
                .boxed()
            })
            .await
            .unwrap_or_else(|e| panic!("test query failed: {e}"))
            .into_iter()
            .map(|s| (s.state, s.n))
            .collect()
    }

    /// The journal row with this journal id.
    pub async fn journal_row(&self, id: i64) -> JournalRow {
        self.db
            .run("test_journal_row", move |c| {
                sluice_db::sql(ROW_BY_ID)
                    .bind::<BigInt, _>(id)
                    .get_result::<JournalRow>(c)
                    .boxed()
            })
            .await
            .unwrap_or_else(|e| panic!("journal row {id}: {e}"))
    }

    /// The journal row of this activity id, if it was journaled.
    pub async fn journal_row_of(&self, activity_id: &str) -> Option<JournalRow> {
        let activity_id = activity_id.to_string();
        self.db
            .run("test_journal_row_of", move |c| {
                sluice_db::sql(ROW_BY_ACTIVITY)
                    .bind::<Text, _>(activity_id)
                    .load::<JournalRow>(c)
                    .boxed()
            })
            .await
            .unwrap_or_else(|e| panic!("test query failed: {e}"))
            .into_iter()
            .next()
    }

    /// Inserts a journal row as the receiver does (the activity's own id, actor and type);
    /// returns its journal id.
    ///
    /// # Panics
    /// If `a` has no string `id`, `actor` or `type`.
    pub async fn journal(&self, a: &Value) -> i64 {
        let field = |f: &str| {
            a[f].as_str()
                .unwrap_or_else(|| panic!("activity without {f}: {a}"))
                .to_string()
        };
        let (id, actor, kind, raw) = (field("id"), field("actor"), field("type"), a.to_string());
        self.db
            .run("test_journal", move |c| {
                sluice_db::sql(
                    "INSERT INTO received_activity (activity_id, actor, kind, raw) \
                     VALUES ($1, $2, $3, $4) RETURNING id AS v",
                )
                .bind::<Text, _>(id)
                .bind::<Text, _>(actor)
                .bind::<Text, _>(kind)
                .bind::<Text, _>(raw)
                .get_result::<I64>(c)
                .boxed()
            })
            .await
            .unwrap_or_else(|e| panic!("journal insert failed: {e}"))
            .v
    }

    /// Puts a processed row back to `pending` (as a re-delivery the receiver would not let
    /// through: the pipeline's own idempotency is what is tested).
    pub async fn set_pending(&self, activity_id: &str) {
        self.exec(format!(
            "UPDATE received_activity SET state = 'pending', next_attempt_at = now() \
             WHERE activity_id = '{activity_id}'"
        ))
        .await;
    }

    /// A remote community as if fetched earlier (with its instance), followed by the local
    /// user `follower` if given: what the local application writes when a user follows it.
    pub async fn remote_community(&self, id: &str, follower: Option<&str>) {
        let domain = super::docs::authority(id);
        self.exec(format!(
            "INSERT INTO instance (domain) VALUES ('{domain}') ON CONFLICT DO NOTHING"
        ))
        .await;
        self.exec(format!(
            "INSERT INTO community (ap_id, instance_id, name, title, inbox, followers_url, \
             moderators_url, featured_url, published) \
             SELECT '{id}', id, 'c', 'c', '{id}/inbox', '{id}/followers', '{id}/moderators', \
             '{id}/featured', '2020-01-01Z' FROM instance WHERE domain = '{domain}'"
        ))
        .await;
        if let Some(f) = follower {
            self.exec(format!(
                "INSERT INTO community_follow (community_id, person_id, state) \
                 SELECT c.id, p.id, 'accepted' FROM community c, person p \
                 WHERE c.ap_id = '{id}' AND p.ap_id = '{f}'"
            ))
            .await;
        }
    }
}
