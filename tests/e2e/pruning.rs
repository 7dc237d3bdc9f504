//! Journal pruning inside the real binary: done and ignored rows past
//! `journal_retention_days` are deleted by the background task, failed and recent rows are
//! kept, and `sluice_journal_pruned_rows_total` counts what went.

use crate::support::{metric_sum, metrics, sluice_on_test_db};
use sluice_db::diesel;
use sluice_db::diesel_async::RunQueryDsl;
use std::time::{Duration, Instant};

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_done_and_ignored_rows_are_pruned_and_counted() {
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_JOURNAL_RETENTION_DAYS", "1"),
        ("SLUICE_JOURNAL_PRUNE_EVERY_SECONDS", "0.5"),
    ])
    .await;
    // Two days old: three done, one ignored (pruned), one failed (kept for replay); and a
    // done row of today (kept).
    let rows = [
        ("old-done-1", "done", "2 days"),
        ("old-done-2", "done", "2 days"),
        ("old-done-3", "done", "2 days"),
        ("old-ignored", "ignored", "2 days"),
        ("old-failed", "failed", "2 days"),
        ("new-done", "done", "0 days"),
    ];
    let values: Vec<String> = rows
        .iter()
        .map(|(id, state, age)| {
            format!(
                "('https://peer.example/{id}', 'https://peer.example/u/a', 'Like', '{{}}', \
                 '{state}', now() - interval '{age}')"
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO received_activity (activity_id, actor, kind, raw, state, received_at) \
         VALUES {}",
        values.join(", ")
    );
    t.db.run("test_insert", move |c| {
        Box::pin(async move { diesel::sql_query(sql).execute(c).await.map(|_| ()) })
    })
    .await
    .unwrap();

    let left = || async {
        let rows: Vec<Text> =
            t.db.run("test_left", |c| {
                Box::pin(
                    sluice_db::sql(
                        "SELECT substring(activity_id from 22) AS v FROM received_activity \
                         ORDER BY id",
                    )
                    .load(c),
                )
            })
            .await
            .unwrap();
        rows.into_iter().map(|r| r.v).collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = left().await;
        if now == ["old-failed", "new-done"] {
            break;
        }
        assert!(Instant::now() < deadline, "not pruned: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = metrics(&s.base).await;
    assert_eq!(
        metric_sum(&m, "sluice_journal_pruned_rows_total"),
        4.0,
        "{m}"
    );
}
