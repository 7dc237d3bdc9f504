//! The pipeline's authority rules through the real binary (`docs/security.md`, "Announce"):
//! hostile peers on their own loopback addresses deliver signed Announces that carry what
//! no community may vouch for; the tables stay as they were.

use crate::support::sluice_on_test_db;
use serde_json::{Value, json};
use sluice_testkit::Sluice;
use sluice_testkit::lemmy::{JournalRow, Rows};
use sluice_testkit::peer::{Tamper, TestPeer};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ENV: &[(&str, &str)] = &[
    ("SLUICE_PIPELINE_RETRY_BASE_SECONDS", "0.2"),
    ("SLUICE_PIPELINE_FETCH_TIMEOUT_SECONDS", "5"),
    // Announces of communities nobody here follows are applied (so only the authority
    // rules stand between the attack and the tables).
    ("SLUICE_PIPELINE_KEEP_ALL_ANNOUNCED", "true"),
];

async fn wait_final(sluice: &Sluice, rows: &Rows, activity_id: &str) -> JournalRow {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = rows.journal_row_of(activity_id).await
            && r.is_final()
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{activity_id} not processed\n{}",
            sluice.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `community` (on `peer`) announces `inner` to sluice's shared inbox; the row's end.
async fn announced(
    sluice: &Sluice,
    rows: &Rows,
    peer: &TestPeer,
    community: &str,
    inner: Value,
) -> JournalRow {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let id = peer.url(&format!("/activities/announce/{n}"));
    let a = json!({
        "id": id, "type": "Announce", "actor": community,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [format!("{community}/followers")],
        "object": inner,
    });
    let answer = peer
        .deliver(&format!("{}/inbox", sluice.base), community, &a)
        .await
        .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.text);
    wait_final(sluice, rows, &id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announce_cannot_delete_our_community_or_replace_a_persons_key() {
    let (mut sluice, t) = sluice_on_test_db(ENV).await;
    let rows = Rows::new(t.db.clone());
    assert!(
        sluice
            .admin(&["community", "create", "main"])
            .status
            .success()
    );
    let ours = format!("{}/c/main", sluice.base);
    let hostile = TestPeer::start_on("127.0.0.41").await;
    let community = hostile.add_group("relay").await;
    hostile.add_person("mallory").await;
    let third = TestPeer::start_on("127.0.0.42").await;
    let victim = third.add_person("victim").await;

    // 1. A Delete whose actor and object are our own community, relayed.
    let delete = json!({
        "id": format!("{}/activities/delete/1", sluice.base), "type": "Delete",
        "actor": ours, "object": ours,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    });
    let row = announced(&sluice, &rows, &hostile, &community, delete).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref()),
        ("ignored", Some("NotAnnounceable"))
    );
    let deleted = format!("SELECT deleted OR removed AS v FROM community WHERE ap_id = '{ours}'");
    assert!(!rows.flag(&deleted).await);

    // 2. The victim is known here with its own key (its Follow made sluice fetch it).
    let follow = json!({
        "id": third.url("/activities/follow/1"), "type": "Follow",
        "actor": victim, "object": ours,
    });
    let answer = third
        .deliver(&format!("{}/inbox", sluice.base), &victim, &follow)
        .await
        .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.text);
    let key = format!(
        "SELECT public_key_pem AS v FROM remote_key WHERE key_id = '{}'",
        third.key_id("victim")
    );
    let real = rows.text(&key).await.expect("the victim's key is stored");

    // An Update of the victim carrying mallory's key, relayed as if the victim sent it.
    let mut forged = third.actor_document("victim");
    forged["name"] = json!("pwned");
    forged["publicKey"]["publicKeyPem"] = json!(hostile.public_key_pem("mallory"));
    let update = json!({
        "id": third.url("/activities/update/1"), "type": "Update",
        "actor": victim, "object": forged,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    });
    let row = announced(&sluice, &rows, &hostile, &community, update).await;
    assert_eq!(
        (row.state.as_str(), row.error_code.as_deref()),
        ("ignored", Some("NotAnnounceable"))
    );
    assert_eq!(rows.text(&key).await.as_deref(), Some(real.as_str()));
    assert_eq!(
        rows.count(&format!(
            "SELECT count(*) AS v FROM person WHERE ap_id = '{victim}' \
             AND (display_name = 'pwned' OR public_key_pem <> '{real}')"
        ))
        .await,
        0
    );
    assert_eq!(
        rows.count(&format!(
            "SELECT count(*) AS v FROM remote_key WHERE owner_ap_id = '{victim}' \
             AND public_key_pem <> '{real}'"
        ))
        .await,
        0
    );

    // After a restart (no key in memory), a request as the victim signed with any key but
    // the victim's own is refused.
    sluice.restart().await;
    let like = json!({
        "id": third.url("/activities/like/1"), "type": "Like",
        "actor": victim, "object": ours,
    });
    let answer = third
        .deliver_with(
            &format!("{}/inbox", sluice.base),
            &victim,
            &like,
            Tamper::SignedWithWrongKey,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert!(!rows.flag(&deleted).await);
}
