//! The journal's own guarantees, with a real store on disk and a real PostgreSQL.

use crate::{LocalConfig, LocalJournal, LocalJournalError, OpenError, drain};
use sluice_db::diesel;
use sluice_db::inbox::NewReceived;
use std::sync::Arc;

fn row(n: u32) -> NewReceived {
    NewReceived {
        activity_id: format!("https://a.example/activities/{n}"),
        actor: "https://a.example/u/alice".into(),
        kind: "Like".into(),
        raw: format!(r#"{{"id": "https://a.example/activities/{n}",  "type":"Like"}}"#),
        signer: n
            .is_multiple_of(2)
            .then(|| "https://b.example/u/bob".into()),
    }
}

/// Runs the drainer until the journal is empty.
async fn drain_all(cfg: drain::DrainConfig, j: &Arc<LocalJournal>, db: &sluice_db::Db) {
    let stage = cfg.start(
        drain::DrainDeps {
            journal: j.clone(),
            db: db.clone(),
            journaled: None,
        },
        sluice_stage::Shutdown::new(),
    );
    while j.depth() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stage.stop().await;
}

#[tokio::test]
async fn appended_records_survive_a_reopen_in_order_and_the_lock_refuses_a_second_opener() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = LocalConfig::new(tmp.path());
    let j = LocalJournal::open(cfg.clone()).unwrap();
    for n in 0..5 {
        assert!(!j.append(row(n)).await.unwrap().duplicate);
    }
    assert!(j.append(row(3)).await.unwrap().duplicate);
    assert_eq!(j.depth(), 5);
    assert!(matches!(
        LocalJournal::open(cfg.clone()),
        Err(OpenError::Locked(_))
    ));
    drop(j);
    // The writer thread lets go of the store when its channel closes.
    let j = loop {
        match LocalJournal::open(cfg.clone()) {
            Ok(j) => break j,
            Err(OpenError::Locked(_)) => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(j.depth(), 5);
    let stored = j.store.oldest(10).await.unwrap();
    let ids: Vec<_> = stored
        .iter()
        .map(|s| s.record.activity_id.clone())
        .collect();
    let want: Vec<_> = (0..5).map(|n| row(n).activity_id).collect();
    assert_eq!(ids, want);
    assert_eq!(stored[2].record.raw, row(2).raw, "the exact text");
    // The recent ids came back with the records.
    assert!(j.append(row(1)).await.unwrap().duplicate);
}

#[tokio::test]
async fn beyond_its_bound_the_journal_refuses_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = LocalConfig::new(tmp.path());
    cfg.max_bytes = 600;
    let j = LocalJournal::open(cfg).unwrap();
    let mut refused = None;
    for n in 0..20 {
        if let Err(e) = j.append(row(n)).await {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("never full");
    assert!(matches!(e, LocalJournalError::Full { .. }), "{e}");
    assert!(j.bytes() <= 600);
    let r = sluice_refusal::Refusal::from(e);
    assert_eq!(r.rc, sluice_apub::Rc::LocalJournalFull);
    assert!(r.retry_after.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_moves_everything_once_with_its_received_time() {
    let t = sluice_testkit::test_db().await;
    let tmp = tempfile::tempdir().unwrap();
    let j = Arc::new(LocalJournal::open(LocalConfig::new(tmp.path())).unwrap());
    for n in 0..30 {
        j.append(row(n)).await.unwrap();
    }
    // One id the database already has: the drain must not trip over it.
    let existing = vec![row(4)];
    t.db.run("test_append", move |c| {
        Box::pin(async move { sluice_db::inbox::append(c, &existing).await })
    })
    .await
    .unwrap();
    let first_received = j.store.oldest(1).await.unwrap()[0].record.received_at;
    let cfg = drain::DrainConfig {
        batch_max: 7,
        ..Default::default()
    };
    drain_all(cfg, &j, &t.db).await;

    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        activity_id: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        signer: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        raw: String,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        received_at: chrono::DateTime<chrono::Utc>,
    }
    let rows: Vec<Row> = t
        .db
        .run("test_rows", |c| {
            Box::pin(sluice_db::diesel_async::RunQueryDsl::load(
                sluice_db::sql(
                    "SELECT activity_id, signer, raw, received_at FROM received_activity ORDER BY id",
                ),
                c,
            ))
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 30);
    let mut ids: Vec<_> = rows.iter().map(|r| r.activity_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
    let zero = rows
        .iter()
        .find(|r| r.activity_id == row(0).activity_id)
        .unwrap();
    assert_eq!(zero.raw, row(0).raw);
    assert_eq!(zero.signer, row(0).signer);
    assert_eq!(
        zero.received_at.timestamp_micros(),
        first_received.timestamp_micros()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_database_refuses_is_set_aside_and_counts_against_the_bound() {
    let t = sluice_testkit::test_db().await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = LocalConfig::new(tmp.path());
    let j = Arc::new(LocalJournal::open(cfg.clone()).unwrap());
    let mut refused = row(1);
    // PostgreSQL's text cannot hold a NUL: this record alone is refused, for good.
    refused.raw = "{\"id\": \"x\0\"}".into();
    for r in [row(0), refused, row(2)] {
        j.append(r).await.unwrap();
    }
    drain_all(drain::DrainConfig::default(), &j, &t.db).await;
    let kept: Vec<_> = std::fs::read_dir(tmp.path().join(crate::rejected::DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let record = crate::Record::decode(&std::fs::read(&kept[0]).unwrap()).unwrap();
    assert_eq!(record.activity_id, row(1).activity_id);
    let size = std::fs::metadata(&kept[0]).unwrap().len();
    assert_eq!(j.rejected_bytes(), size);
    drop(j);

    // A later run counts the directory against its bound: no room for one more record.
    let mut small = cfg.clone();
    // Room for one record beside the set-aside one, were it not there.
    small.max_bytes = size + 150;
    let j = loop {
        match LocalJournal::open(small.clone()) {
            Ok(j) => break j,
            Err(OpenError::Locked(_)) => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(j.rejected_bytes(), size);
    match j.append(row(3)).await {
        Err(LocalJournalError::Full { rejected, .. }) => assert_eq!(rejected, size),
        other => panic!("{other:?}"),
    }
    // Removing the file (after reading it) gives the room back at the next count.
    std::fs::remove_file(&kept[0]).unwrap();
    j.rejected.recount();
    assert_eq!(j.rejected_bytes(), 0);
    assert!(!j.append(row(3)).await.unwrap().duplicate);
}

#[test]
fn a_journal_that_cannot_write_answers_503_with_retry_after() {
    let r = sluice_refusal::Refusal::from(LocalJournalError::Closed);
    assert_eq!(r.rc, sluice_apub::Rc::LocalJournalUnavailable);
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.retry_after, Some(crate::error::UNAVAILABLE_RETRY_AFTER));
    let resp = r.response();
    assert_eq!(resp.headers().get("retry-after").unwrap(), "10");
}
