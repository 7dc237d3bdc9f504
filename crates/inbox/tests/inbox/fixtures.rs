//! Every Lemmy activity in the shared fixtures, rewritten to the test peer's host and signed
//! by its actor, is accepted and journaled.

use crate::support::{Harness, Peer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `shared/fixtures/activitypub/lemmy/activities`, beside the repository (or an ancestor).
pub fn activities_dir() -> PathBuf {
    let rel = "shared/fixtures/activitypub/lemmy/activities";
    if let Ok(p) = std::env::var("SLUICE_FIXTURES") {
        return PathBuf::from(p).join("activitypub/lemmy/activities");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join(rel))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("fixtures not found: no {rel} beside the repository"))
}

/// Every fixture file, sorted.
pub fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(activities_dir()).unwrap() {
        let dir = dir.unwrap().path();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

/// The fixture with every Lemmy test host replaced by `base`, and a fresh top-level id
/// (two fixtures share ids upstream).
pub fn rewrite(text: &str, base: &str, n: usize) -> Value {
    let mut t = text.to_string();
    for host in [
        "http://lemmy-alpha:8541",
        "https://enterprise.lemmy.ml",
        "http://enterprise.lemmy.ml",
        "https://ds9.lemmy.ml",
        "http://ds9.lemmy.ml",
        "https://voyager.lemmy.ml",
        "http://voyager.lemmy.ml",
        "https://lemmy-alpha",
        "http://lemmy-alpha",
        "https://lemmy.ml",
    ] {
        t = t.replace(host, base);
    }
    let mut v: Value = serde_json::from_str(&t).unwrap();
    v["id"] = Value::String(format!("{base}/activities/fixture/{n}"));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lemmy_activity_is_accepted_and_journaled() {
    let h = Harness::start(|_| {}).await;
    let peer = Peer::start().await;
    let files = fixture_files();
    assert!(
        files.len() >= 30,
        "expected the Lemmy fixtures, found {}",
        files.len()
    );
    let mut expected = Vec::new();
    for (n, f) in files.iter().enumerate() {
        let v = rewrite(&std::fs::read_to_string(f).unwrap(), &peer.base, n);
        let actor_id = v["actor"].as_str().unwrap();
        let path = actor_id.strip_prefix(&peer.base).unwrap();
        let actor = peer.actor(path);
        let body = v.to_string();
        let a = h.deliver(&actor, "/inbox", &body).await;
        assert_eq!(a.status, 202, "{}: {}", f.display(), a.body);
        assert_eq!(a.body["status"], "accepted", "{}", f.display());
        expected.push(v["id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        h.journal().await,
        expected,
        "journal order is arrival order"
    );

    // The journal holds the activity exactly as sent, with its actor and type.
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        actor: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        raw: Value,
    }
    use sluice_db::diesel;
    use sluice_db::diesel_async::RunQueryDsl;
    let rows: Vec<Row> =
        h.t.db
            .run("test_rows", |c| {
                Box::pin(
                    sluice_db::sql("SELECT actor, kind, raw FROM received_activity ORDER BY id")
                        .load(c),
                )
            })
            .await
            .unwrap();
    for (row, f) in rows.iter().zip(&files) {
        let sent = rewrite(
            &std::fs::read_to_string(f).unwrap(),
            &peer.base,
            files.iter().position(|x| x == f).unwrap(),
        );
        assert_eq!(row.raw, sent, "{}", f.display());
        assert_eq!(row.actor, sent["actor"].as_str().unwrap());
        assert_eq!(row.kind, sent["type"].as_str().unwrap());
    }
}
