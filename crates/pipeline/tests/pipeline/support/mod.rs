//! Shared test support: a real database, a test peer, a processor, and helpers to insert
//! journal rows as the receiver does and to read what the pipeline stored.
//!
//! The harness is a `sluice_testkit::lemmy::World`: the fixture scenarios the end-to-end
//! suite runs over HTTP run here with journal rows inserted directly and one batch per
//! activity.

#![allow(dead_code)]

pub mod peer;

use serde_json::Value;
use sluice_apub::LocalUrls;
use sluice_pipeline::{BatchReport, PipelineConfig, Processor};
use sluice_testkit::lemmy::{Hosts, JournalRow, Rows};
use sluice_testkit::{TestDb, test_db};
use std::sync::Arc;
use std::time::Duration;

pub use peer::Peer;
pub use sluice_testkit::lemmy::{World, docs};

/// sluice's side of a test: its database, its domain, a processor.
pub struct Harness {
    pub t: TestDb,
    pub db: Rows,
    pub peer: Peer,
    pub urls: LocalUrls,
    pub settings: PipelineConfig,
    pub processor: Processor,
    pub hosts: Hosts,
}

/// A journal row's end.
pub type Row = JournalRow;

/// Test settings: short fetch timeout, immediate retries.
pub fn settings() -> PipelineConfig {
    PipelineConfig {
        fetch_timeout: Duration::from_secs(2),
        retry_base: Duration::ZERO,
        ..PipelineConfig::default()
    }
}

impl Harness {
    /// sluice as `domain` (dev mode: `http://` ids), with its instance row.
    pub async fn new(domain: &str) -> Harness {
        Harness::with(domain, settings()).await
    }

    pub async fn with(domain: &str, settings: PipelineConfig) -> Harness {
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
            db: Rows::new(t.db.clone()),
            t,
            peer,
            urls,
            settings,
            processor,
            hosts: Hosts::unchanged(),
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
        self.db.exec(sql).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.count(sql).await
    }

    pub async fn text(&self, sql: &str) -> Option<String> {
        self.db.text(sql).await
    }

    pub async fn flag(&self, sql: &str) -> bool {
        self.db.flag(sql).await
    }

    pub async fn json(&self, sql: &str) -> Vec<Value> {
        self.db.json(sql).await
    }

    /// Journal rows by state.
    pub async fn states(&self) -> Vec<(String, i64)> {
        self.db.states().await
    }

    pub async fn row(&self, id: i64) -> Row {
        self.db.journal_row(id).await
    }

    /// Inserts a journal row as the receiver does (the activity's own id, actor and type).
    pub async fn deliver(&self, a: &Value) -> i64 {
        self.db.journal(a).await
    }

    /// One batch.
    pub async fn run(&mut self) -> BatchReport {
        self.processor.run_once().await.unwrap()
    }
}

impl World for Harness {
    fn rows(&self) -> &Rows {
        &self.db
    }

    fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    async fn remote_person(&mut self, id: &str) {
        self.peer.serve(docs::person(id));
    }

    async fn remote_community(&mut self, id: &str, follower: Option<&str>) {
        self.db.remote_community(id, follower).await;
        self.peer.serve(docs::group(id));
    }

    async fn serve(&mut self, doc: Value) {
        self.peer.serve(doc);
    }

    /// A local user.
    async fn local_person(&mut self, name: &str) -> String {
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
    async fn local_community(&mut self, name: &str) -> String {
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

    /// Inserts the journal row, runs one batch (which must claim it), returns the row.
    async fn step(&mut self, a: &Value) -> Row {
        let id = self.deliver(a).await;
        let r = self.run().await;
        assert_eq!(r.claimed, 1, "{r:?}");
        self.row(id).await
    }

    async fn reprocess(&mut self, activity_id: &str) -> Row {
        self.db.set_pending(activity_id).await;
        let r = self.run().await;
        assert_eq!(r.claimed, 1, "{r:?}");
        self.db
            .journal_row_of(activity_id)
            .await
            .expect("the row exists")
    }

    fn fetched(&self, url: &str) -> bool {
        self.peer.hits().iter().any(|u| u == url)
    }
}
