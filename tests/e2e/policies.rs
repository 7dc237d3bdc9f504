//! The policy chain through the real binary (docs/policies.md): remote members of a local
//! community post Lemmy-shaped content; a follower on another instance sees what the
//! community relays. Rejected (with the policy's rc, recorded in `policy_decision`),
//! refused at the inbox (403 `PolicyRejected`), rewritten (stored and relayed as
//! rewritten), held (listed, approved, applied); replayed after a policy change; the file
//! reloaded while serving; `sluice policy test`.

use crate::support::{
    self, admin_ok as admin, journal_end, metric_sum, metrics, sluice_on_test_db, texts,
};
use serde_json::{Value, json};
use sluice_apub::PUBLIC;
use sluice_testkit::peer::TestPeer;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

const CHAIN: &str = r#"
[[policy]]
kind = "instance"
reject = ["127.0.0.63"]

[[policy]]
kind = "keyword"
reject = ["(?i)buy followers"]
mark_sensitive = ["(?i)\\bgore\\b"]

[[policy]]
kind = "new_account"
min_age_days = 2
action = "hold"
"#;

async fn journal_id(db: &sluice_db::Db, activity_id: &str) -> String {
    texts(
        db,
        format!("SELECT id::text AS v FROM received_activity WHERE activity_id = '{activity_id}'"),
    )
    .await
    .remove(0)
}

/// Delivers, expecting `status` (retrying the 404 a just-created community answers until
/// the inbox's next refresh).
pub(crate) async fn deliver(
    peer: &TestPeer,
    inbox: &str,
    signer: &str,
    activity: &Value,
) -> (u16, String) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let d = peer.deliver(inbox, signer, activity).await.unwrap();
        if d.status != 404 || Instant::now() > deadline {
            return (d.status, d.rc().unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Lemmy Create(Page) by `author` in `community`, saying `text`.
pub(crate) fn create_page(
    peer: &TestPeer,
    author: &str,
    community: &str,
    n: u32,
    text: &str,
) -> Value {
    let page = peer.url(&format!("/post/{n}"));
    json!({
        "id": peer.url(&format!("/activities/create/{n}")),
        "type": "Create",
        "actor": author,
        "to": [PUBLIC],
        "cc": [community],
        "audience": community,
        "object": {
            "id": page,
            "type": "Page",
            "attributedTo": author,
            "name": format!("post {n}"),
            "content": format!("<p>{text}</p>"),
            "mediaType": "text/html",
            "source": {"content": text, "mediaType": "text/markdown"},
            "sensitive": false,
            "audience": community,
            "to": [community, PUBLIC],
            "published": chrono::Utc::now().to_rfc3339(),
        },
    })
}

/// The Announces of `page` the follower's instance received so far.
fn relayed(peer: &TestPeer, page: &str) -> Vec<Value> {
    peer.received()
        .into_iter()
        .filter_map(|r| r.json)
        .filter(|j| j["type"] == "Announce" && j["object"]["object"]["id"] == page)
        .collect()
}

async fn wait_relayed(peer: &TestPeer, page: &str) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(a) = relayed(peer, page).pop() {
            return a;
        }
        assert!(Instant::now() < deadline, "{page} was not relayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_rejects_rewrites_holds_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.toml");
    std::fs::write(&file, CHAIN).unwrap();
    let file_s = file.to_string_lossy().to_string();
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_POLICY_FILE", file_s.as_str()),
        ("SLUICE_PIPELINE_RETRY_BASE_SECONDS", "0.2"),
        ("SLUICE_DELIVERY_POLL_MS", "50"),
        ("SLUICE_DELIVERY_FLUSH_MS", "200"),
        ("SLUICE_INBOX_REFRESH_MS", "100"),
    ])
    .await;
    admin(&s, &["community", "create", "main"]);
    let community = format!("{}/c/main", s.base);
    let inbox = format!("{community}/inbox");

    // A follower on its own instance: it sees what the community relays.
    let follower_peer = TestPeer::start_on("127.0.0.61").await;
    let follower = follower_peer.add_person("reader").await;
    let follow = json!({"id": follower_peer.url("/activities/follow/1"), "type": "Follow",
        "actor": follower, "object": community, "to": [community]});
    assert_eq!(
        deliver(&follower_peer, &inbox, &follower, &follow).await.0,
        202
    );
    follower_peer.wait_received(1, LIMIT).await.unwrap();

    let members = TestPeer::start_on("127.0.0.62").await;
    let poster = members.add_person("poster").await;

    // Accepted untouched: stored, relayed as received.
    let plain = create_page(&members, &poster, &community, 1, "hello");
    assert_eq!(deliver(&members, &inbox, &poster, &plain).await.0, 202);
    assert_eq!(
        journal_end(&t.db, plain["id"].as_str().unwrap()).await,
        "done -"
    );
    let a = wait_relayed(&follower_peer, plain["object"]["id"].as_str().unwrap()).await;
    assert_eq!(a["object"]["object"]["sensitive"], json!(false));

    // Rewritten: stored sensitive, and relayed sensitive (same ids as received).
    let marked = create_page(&members, &poster, &community, 2, "some gore here");
    let page2 = marked["object"]["id"].as_str().unwrap().to_string();
    assert_eq!(deliver(&members, &inbox, &poster, &marked).await.0, 202);
    assert_eq!(
        journal_end(&t.db, marked["id"].as_str().unwrap()).await,
        "done -"
    );
    let nsfw = texts(
        &t.db,
        format!("SELECT nsfw::text AS v FROM post WHERE ap_id = '{page2}'"),
    )
    .await;
    assert_eq!(nsfw, ["true"]);
    let a = wait_relayed(&follower_peer, &page2).await;
    assert_eq!(a["object"]["object"]["sensitive"], json!(true), "{a}");
    assert_eq!(a["object"]["id"], marked["id"]);

    // Rejected by a keyword: ignored with the policy's rc, recorded, not stored or relayed.
    let spam = create_page(&members, &poster, &community, 3, "Buy Followers now");
    let spam_id = spam["id"].as_str().unwrap().to_string();
    assert_eq!(deliver(&members, &inbox, &poster, &spam).await.0, 202);
    assert_eq!(journal_end(&t.db, &spam_id).await, "ignored PolicyKeyword");
    let decided = texts(
        &t.db,
        format!(
            "SELECT policy || ' ' || action || ' ' || coalesce(rc, '-') AS v FROM policy_decision \
             WHERE activity_id = '{spam_id}'"
        ),
    )
    .await;
    assert_eq!(decided, ["keyword reject PolicyKeyword"]);
    let stored = texts(&t.db, "SELECT count(*)::text AS v FROM post".into()).await;
    assert_eq!(stored, ["2"]);

    // Refused at the inbox: a rejected instance is answered 403 before anything is stored.
    let banned_peer = TestPeer::start_on("127.0.0.63").await;
    let banned = banned_peer.add_person("spammer").await;
    let from_banned = create_page(&banned_peer, &banned, &community, 4, "hello");
    assert_eq!(
        deliver(&banned_peer, &inbox, &banned, &from_banned).await,
        (403, "PolicyRejected".to_string())
    );

    // Held: an account created an hour ago. Listed, approved, then applied and relayed.
    let newbie = members.add_person("newbie").await;
    let mut doc = members.actor_document("newbie");
    doc["published"] = json!((chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339());
    members.serve_json(&newbie, doc);
    let fresh = create_page(&members, &newbie, &community, 5, "first post");
    let fresh_id = fresh["id"].as_str().unwrap().to_string();
    assert_eq!(deliver(&members, &inbox, &newbie, &fresh).await.0, 202);
    assert_eq!(journal_end(&t.db, &fresh_id).await, "held PolicyHeld");
    let listed = admin(&s, &["review", "list"]);
    assert!(
        listed.contains(&fresh_id) && listed.contains("new_account"),
        "{listed}"
    );
    let m = metrics(&s.base).await;
    // The rewrite, the keyword's reject, the inbox's refusal, the hold.
    assert_eq!(metric_sum(&m, "sluice_policy_decisions_total"), 4.0, "{m}");
    let id = journal_id(&t.db, &fresh_id).await;
    admin(&s, &["review", "approve", &id]);
    assert_eq!(journal_end(&t.db, &fresh_id).await, "done -");
    wait_relayed(&follower_peer, fresh["object"]["id"].as_str().unwrap()).await;
    let actions = texts(
        &t.db,
        format!(
            "SELECT action AS v FROM policy_decision WHERE activity_id = '{fresh_id}' ORDER BY id"
        ),
    )
    .await;
    assert_eq!(actions, ["hold", "approve"]);

    // The dry run says what each policy would do.
    let probe = dir.path().join("probe.json");
    std::fs::write(&probe, spam.to_string()).unwrap();
    let out = admin(&s, &["policy", "test", &probe.to_string_lossy()]);
    assert!(out.contains("instance") && out.contains("accept"), "{out}");
    assert!(out.contains("reject PolicyKeyword"), "{out}");
    assert!(out.contains("not reached"), "{out}");
    assert!(out.contains("=> rejected PolicyKeyword"), "{out}");
    let listed = admin(&s, &["policy", "list"]);
    assert!(
        listed.contains("keyword") && listed.contains("new_account"),
        "{listed}"
    );

    // A file that does not build keeps the chain in force; a good one replaces it without a
    // restart, and what it rejected before can be replayed.
    std::fs::write(&file, "[[policy]]\nkind = \"nope\"\n").unwrap();
    wait_metric(
        &s.base,
        "sluice_policy_reloads_total{result=\"error\"}",
        1.0,
    )
    .await;
    let again = create_page(&members, &poster, &community, 6, "buy followers again");
    assert_eq!(deliver(&members, &inbox, &poster, &again).await.0, 202);
    assert_eq!(
        journal_end(&t.db, again["id"].as_str().unwrap()).await,
        "ignored PolicyKeyword",
        "the previous chain stays in force"
    );
    std::fs::write(
        &file,
        "[[policy]]\nkind = \"hashtag\"\nreject = [\"spam\"]\n",
    )
    .unwrap();
    wait_metric(&s.base, "sluice_policy_reloads_total{result=\"ok\"}", 1.0).await;
    admin(
        &s,
        &["journal", "replay", &journal_id(&t.db, &spam_id).await],
    );
    assert_eq!(journal_end(&t.db, &spam_id).await, "done -");
    // The rest of what the keyword refused, by its rc.
    let out = admin(&s, &["journal", "replay", "--rc", "PolicyKeyword"]);
    assert!(out.contains("1 rows with rc PolicyKeyword"), "{out}");
    assert_eq!(
        journal_end(&t.db, again["id"].as_str().unwrap()).await,
        "done -"
    );
    // The banned instance is not refused any more either.
    let (status, _) = deliver(&banned_peer, &inbox, &banned, &from_banned).await;
    assert_eq!(status, 202);
}

async fn wait_metric(base: &str, series: &str, at_least: f64) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let body = metrics(base).await;
        let v: f64 = body
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if v >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} stayed below {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Admin plugins as links of the chain: one that loops forever is stopped within its
/// limits, counted, and accepts; the example link blocklist after it rejects a post linking
/// to a listed domain and marks one linking to an NSFW domain sensitive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_links_of_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = support::plugins_dir(
        dir.path(),
        &["link_domain_blocklist"],
        &[("forever", "loop { }")],
    );
    let file = dir.path().join("policies.toml");
    std::fs::write(
        &file,
        "[plugin_limits]\ntimeout_ms = 200\n\n\
         [[policy]]\nkind = \"plugin\"\nname = \"forever\"\n\n\
         [[policy]]\nname = \"links\"\nkind = \"plugin\"\nplugin = \"link_domain_blocklist\"\n",
    )
    .unwrap();
    let (file_s, plugins_s) = (
        file.to_string_lossy().to_string(),
        plugins.to_string_lossy().to_string(),
    );
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_POLICY_FILE", file_s.as_str()),
        ("SLUICE_PLUGINS_DIR", plugins_s.as_str()),
        ("SLUICE_INBOX_REFRESH_MS", "100"),
    ])
    .await;
    admin(&s, &["community", "create", "main"]);
    let community = format!("{}/c/main", s.base);
    let inbox = format!("{community}/inbox");
    let members = TestPeer::start_on("127.0.0.64").await;
    let poster = members.add_person("poster").await;

    let spam = create_page(
        &members,
        &poster,
        &community,
        1,
        "see https://www.spam.example/offer",
    );
    assert_eq!(deliver(&members, &inbox, &poster, &spam).await.0, 202);
    assert_eq!(
        journal_end(&t.db, spam["id"].as_str().unwrap()).await,
        "ignored PluginRejected"
    );
    let nsfw = create_page(
        &members,
        &poster,
        &community,
        2,
        "see https://nsfw.example/x",
    );
    let page = nsfw["object"]["id"].as_str().unwrap().to_string();
    assert_eq!(deliver(&members, &inbox, &poster, &nsfw).await.0, 202);
    assert_eq!(
        journal_end(&t.db, nsfw["id"].as_str().unwrap()).await,
        "done -"
    );
    let marked = texts(
        &t.db,
        format!("SELECT nsfw::text AS v FROM post WHERE ap_id = '{page}'"),
    )
    .await;
    assert_eq!(marked, ["true"]);
    let m = metrics(&s.base).await;
    assert!(
        metric_sum(&m, "sluice_plugin_failures_total") >= 2.0,
        "the looping plugin failed on both: {m}"
    );
    let out = admin(&s, &["policy", "list"]);
    assert!(
        out.contains("links") && out.contains("link_domain_blocklist.rhai"),
        "{out}"
    );
}
