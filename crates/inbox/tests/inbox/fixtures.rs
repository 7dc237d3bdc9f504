//! Every Lemmy activity in the fixtures, rewritten to the test peer's host and signed
//! by its actor, is accepted and journaled.

use crate::support::Harness;
use serde_json::Value;
use sluice_testkit::peer::TestPeer;
use std::path::PathBuf;

/// The Lemmy activities committed with the repository.
pub fn activities_dir() -> PathBuf {
    sluice_testkit::lemmy_fixtures().join("activities")
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
async fn every_lemmy_activity_signed_by_activitypub_federation_is_accepted_and_journaled() {
    let h = Harness::start(|_| {}).await;
    let peer = TestPeer::start().await;
    let files = fixture_files();
    assert!(
        files.len() >= 30,
        "expected the Lemmy fixtures, found {}",
        files.len()
    );
    let mut sent = Vec::new();
    for (n, f) in files.iter().enumerate() {
        let v = rewrite(&std::fs::read_to_string(f).unwrap(), peer.base(), n);
        // The actor (a person `/u/NAME` or a community `/c/NAME`) lives on the peer and signs.
        let actor_id = v["actor"].as_str().unwrap();
        let path = actor_id.strip_prefix(peer.base()).unwrap();
        let name = &path[3..];
        if path.starts_with("/c/") {
            peer.add_group(name).await;
        } else {
            peer.add_person(name).await;
        }
        let a = h.receive(&peer, actor_id, &v).await;
        assert_eq!(a.status, 202, "{}: {}", f.display(), a.body);
        assert_eq!(a.body["status"], "accepted", "{}", f.display());
        sent.push(v);
    }
    let ids: Vec<String> = sent
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(h.journal().await, ids, "journal order is arrival order");

    // The journal holds each activity as sent, with its actor and type.
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
                    sluice_db::sql(
                        "SELECT actor, kind, raw::jsonb AS raw FROM received_activity ORDER BY id",
                    )
                    .load(c),
                )
            })
            .await
            .unwrap();
    assert_eq!(rows.len(), sent.len());
    for (row, v) in rows.iter().zip(&sent) {
        assert_eq!(&row.raw, v);
        assert_eq!(row.actor, v["actor"].as_str().unwrap());
        assert_eq!(row.kind, v["type"].as_str().unwrap());
    }
}
