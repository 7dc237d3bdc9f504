//! Shared test support: a real database, a test peer, a processor, and helpers to insert
//! journal rows as the receiver does and to read what the pipeline stored.
//!
//! Written to be reused by the over-HTTP end-to-end tests: `docs` builds the same
//! activities, and the assertions read only tables.

#![allow(dead_code)]

pub mod docs;
pub mod peer;

use futures::FutureExt;
use serde_json::Value;
use sluice_apub::LocalUrls;
use sluice_db::diesel;
use sluice_db::diesel::sql_types::{BigInt, Bool, Integer, Jsonb, Nullable, Text};
use sluice_db::diesel_async::RunQueryDsl;
use sluice_pipeline::{BatchReport, Processor, Settings};
use sluice_testkit::{TestDb, test_db};
use std::sync::Arc;
use std::time::Duration;

pub use peer::Peer;

/// sluice's side of a test: its database, its domain, a processor.
pub struct Harness {
    pub t: TestDb,
    pub peer: Peer,
    pub urls: LocalUrls,
    pub settings: Settings,
    pub processor: Processor,
}

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

/// A journal row's end.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Row {
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub error_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Test settings: short fetch timeout, immediate retries.
pub fn settings() -> Settings {
    Settings {
        fetch_timeout: Duration::from_secs(2),
        retry_base: Duration::ZERO,
        ..Settings::default()
    }
}

impl Harness {
    /// sluice as `domain` (dev mode: `http://` ids), with its instance row.
    pub async fn new(domain: &str) -> Harness {
        Harness::with(domain, settings()).await
    }

    pub async fn with(domain: &str, settings: Settings) -> Harness {
        let t = test_db().await;
        let peer = Peer::start().await;
        let urls = LocalUrls::new(domain, true).unwrap();
        let processor = Processor::new(
            t.db.clone(),
            settings.clone(),
            Arc::new(peer.fetcher()),
            urls.clone(),
        );
        let h = Harness {
            t,
            peer,
            urls,
            settings,
            processor,
        };
        h.exec(format!("INSERT INTO instance (domain) VALUES ('{domain}')"))
            .await;
        h
    }

    /// Another processor on the same database and peer.
    pub fn processor(&self, node: &str) -> Processor {
        let mut s = self.settings.clone();
        s.node_id = node.to_string();
        Processor::new(
            self.t.db.clone(),
            s,
            Arc::new(self.peer.fetcher()),
            self.urls.clone(),
        )
    }

    pub async fn exec(&self, sql: String) {
        self.t
            .db
            .run("test_exec", move |c| {
                diesel::sql_query(sql)
                    .execute(c)
                    .map(|r| r.map(|_| ()))
                    .boxed()
            })
            .await
            .unwrap();
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_string();
        self.t
            .db
            .run("test_count", move |c| {
                diesel::sql_query(sql).get_result::<I64>(c).boxed()
            })
            .await
            .unwrap()
            .v
    }

    pub async fn text(&self, sql: &str) -> Option<String> {
        let sql = sql.to_string();
        self.t
            .db
            .run("test_text", move |c| {
                diesel::sql_query(sql).load::<Txt>(c).boxed()
            })
            .await
            .unwrap()
            .into_iter()
            .next()
            .and_then(|t| t.v)
    }

    pub async fn flag(&self, sql: &str) -> bool {
        let sql = sql.to_string();
        self.t
            .db
            .run("test_flag", move |c| {
                diesel::sql_query(sql).get_result::<Flag>(c).boxed()
            })
            .await
            .unwrap()
            .v
    }

    pub async fn json(&self, sql: &str) -> Vec<Value> {
        let sql = sql.to_string();
        self.t
            .db
            .run("test_json", move |c| {
                diesel::sql_query(sql).load::<Jsn>(c).boxed()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.v)
            .collect()
    }

    /// A local user.
    pub async fn local_person(&self, name: &str) -> String {
        let id = self.urls.person(name);
        let inbox = LocalUrls::sub(&id, "inbox");
        self.exec(format!(
            "INSERT INTO person (ap_id, instance_id, local, name, inbox) \
             SELECT '{id}', id, true, '{name}', '{inbox}' FROM instance WHERE domain = '{}'",
            self.urls.domain()
        ))
        .await;
        id
    }

    /// A local community.
    pub async fn local_community(&self, name: &str) -> String {
        let id = self.urls.community(name);
        self.exec(format!(
            "INSERT INTO community (ap_id, instance_id, local, name, title, inbox, followers_url, \
             moderators_url, featured_url) \
             SELECT '{id}', id, true, '{name}', '{name}', '{id}/inbox', '{id}/followers', \
             '{id}/moderators', '{id}/featured' FROM instance WHERE domain = '{}'",
            self.urls.domain()
        ))
        .await;
        id
    }

    /// A remote community (as if fetched), followed by `follower` (a local user) if given.
    pub async fn remote_community(&self, id: &str, follower: Option<&str>) {
        let host = url::Url::parse(id).unwrap();
        let domain = sluice_apub::urls::authority(&host);
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
        self.peer.serve(docs::group(id));
        if let Some(f) = follower {
            self.exec(format!(
                "INSERT INTO community_follow (community_id, person_id, state) \
                 SELECT c.id, p.id, 'accepted' FROM community c, person p \
                 WHERE c.ap_id = '{id}' AND p.ap_id = '{f}'"
            ))
            .await;
        }
    }

    /// Inserts a journal row as the receiver does (the activity's own id, actor and type).
    pub async fn deliver(&self, a: &Value) -> i64 {
        let (id, actor, kind) = (
            a["id"].as_str().unwrap().to_string(),
            a["actor"].as_str().unwrap().to_string(),
            a["type"].as_str().unwrap().to_string(),
        );
        let raw = a.clone();
        self.t
            .db
            .run("test_deliver", move |c| {
                sluice_db::sql(
                    "INSERT INTO received_activity (activity_id, actor, kind, raw) \
                     VALUES ($1, $2, $3, $4) RETURNING id AS v",
                )
                .bind::<Text, _>(id)
                .bind::<Text, _>(actor)
                .bind::<Text, _>(kind)
                .bind::<Jsonb, _>(raw)
                .get_result::<I64>(c)
                .boxed()
            })
            .await
            .unwrap()
            .v
    }

    /// One batch.
    pub async fn run(&mut self) -> BatchReport {
        self.processor.run_once().await.unwrap()
    }

    /// Delivers one activity, processes it, returns its journal row.
    pub async fn step(&mut self, a: &Value) -> Row {
        let id = self.deliver(a).await;
        let r = self.run().await;
        assert_eq!(r.claimed, 1, "{r:?}");
        self.row(id).await
    }

    /// Like `step`, and the row must end `done`.
    pub async fn done(&mut self, a: &Value) {
        let row = self.step(a).await;
        assert_eq!(row.state, "done", "{}: {row:?}", a["id"]);
    }

    /// Like `step`, and the row must end `ignored` with `rc`.
    pub async fn ignored(&mut self, a: &Value, rc: &str) {
        let row = self.step(a).await;
        assert_eq!(
            (row.state.as_str(), row.error_code.as_deref()),
            ("ignored", Some(rc)),
            "{}: {row:?}",
            a["id"]
        );
    }

    pub async fn row(&self, id: i64) -> Row {
        self.t
            .db
            .run("test_row", move |c| {
                sluice_db::sql(
                    "SELECT state, error_code, error, attempts FROM received_activity WHERE id = $1",
                )
                .bind::<BigInt, _>(id)
                .get_result::<Row>(c)
                .boxed()
            })
            .await
            .unwrap()
    }

    /// Journal rows by state.
    pub async fn states(&self) -> Vec<(String, i64)> {
        #[derive(diesel::QueryableByName)]
        struct S {
            #[diesel(sql_type = Text)]
            state: String,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        self.t
            .db
            .run("test_states", |c| {
                sluice_db::sql(
                    "SELECT state, count(*) AS n FROM received_activity GROUP BY state ORDER BY state",
                )
                .load::<S>(c)
                .boxed()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.state, s.n))
            .collect()
    }
}
