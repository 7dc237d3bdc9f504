//! What plugins know of instances, through the real binary: `instance_age_days` from the
//! instance table's first-seen times (held in memory) and `instance_policy` from the
//! instance policies. The first-post example holds only the first post of a new instance.

use crate::policies::{create_page, deliver};
use crate::support::{self, BIN, env_pairs, exec};
use crate::support::{admin_ok as admin, journal_end};
use sluice_testkit::peer::TestPeer;
use sluice_testkit::{Sluice, SluiceOptions, test_db};

const CHAIN: &str = r#"
[[policy]]
name = "policy-probe"
kind = "plugin"
types = ["Create"]

[[policy]]
name = "first-post"
kind = "plugin"
plugin = "first_post_from_new_instance_to_review"
types = ["Create"]
"#;

/// Rejects what comes from an instance whose policy is `allow` (a probe of the fact).
const PROBE: &str = r#"if instance_policy(host) == "allow" { reject("allowed instance") }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_post_is_held_only_from_a_new_instance() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = support::plugins_dir(
        dir.path(),
        &["first_post_from_new_instance_to_review"],
        &[("policy-probe", PROBE)],
    );
    let file = dir.path().join("policies.toml");
    std::fs::write(&file, CHAIN).unwrap();

    let old = TestPeer::start_on("127.0.0.141").await;
    let new = TestPeer::start_on("127.0.0.142").await;
    let allowed = TestPeer::start_on("127.0.0.143").await;
    let t = test_db().await;
    // Known for a month before this run (first contact long ago); the allowed one is new.
    let domain = |p: &TestPeer| p.base().trim_start_matches("http://").to_string();
    exec(
        &t.db,
        format!(
            "INSERT INTO instance (domain, first_seen) VALUES ('{}', now() - interval '30 days')",
            domain(&old)
        ),
    )
    .await;
    let (file_s, plugins_s) = (
        file.to_string_lossy().to_string(),
        plugins.to_string_lossy().to_string(),
    );
    let s = Sluice::start(
        BIN,
        SluiceOptions {
            database_url: Some(t.url.clone()),
            env: env_pairs(&[
                ("SLUICE_POLICY_FILE", file_s.as_str()),
                ("SLUICE_PLUGINS_DIR", plugins_s.as_str()),
                ("SLUICE_INBOX_REFRESH_MS", "100"),
            ]),
            ..Default::default()
        },
    )
    .await;
    admin(&s, &["community", "create", "main"]);
    admin(&s, &["instance", "allow", &domain(&allowed)]);
    let community = format!("{}/c/main", s.base);
    let inbox = format!("{community}/inbox");

    let post = |peer: &TestPeer, author: &str, n: u32| {
        create_page(peer, author, &community, n, &format!("post {n}"))
    };
    let end = async |peer: &TestPeer, author: &str, n: u32| {
        let a = post(peer, author, n);
        assert_eq!(deliver(peer, &inbox, author, &a).await.0, 202);
        journal_end(&t.db, a["id"].as_str().unwrap()).await
    };

    let veteran = old.add_person("veteran").await;
    assert_eq!(end(&old, &veteran, 1).await, "done -", "an old instance");

    let newcomer = new.add_person("newcomer").await;
    assert_eq!(
        end(&new, &newcomer, 2).await,
        "held PolicyHeld",
        "a new instance's first"
    );
    assert_eq!(end(&new, &newcomer, 3).await, "done -", "its next");

    let friend = allowed.add_person("friend").await;
    assert_eq!(
        end(&allowed, &friend, 4).await,
        "ignored PluginRejected",
        "instance_policy answers allow"
    );
}
