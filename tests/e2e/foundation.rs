//! Serve on the embedded database, local actors, discovery, metrics, bad config.

use crate::support::{
    BIN, admin_ok, metric_sum, metrics, postgres_processes_mentioning, sluice_on_test_db,
};
use serde_json::Value;
use sluice_testkit::{Sluice, SluiceOptions, http_client};
use std::time::Duration;

const AP: &str = "application/activity+json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_database_serves_and_stops_without_orphans() {
    let mut s = Sluice::start(BIN, SluiceOptions::default()).await;
    let dir = s.data_dir.display().to_string();
    let client = http_client();
    let ready: Value = client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert!(
        !postgres_processes_mentioning(&dir).is_empty(),
        "the embedded cluster runs under data_dir"
    );

    // An admin command reaches the running cluster.
    admin_ok(&s, &["community", "create", "rust", "--title", "Rust"]);
    let r = client
        .get(format!("{}/c/rust", s.base))
        .header("Accept", AP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let status = s.stop();
    assert!(status.success(), "clean exit expected, got {status}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        postgres_processes_mentioning(&dir).is_empty(),
        "postgres left running after SIGTERM"
    );

    // Started again on the same data, the community is still there.
    let mut again = Sluice::start(
        BIN,
        SluiceOptions {
            data_dir: Some(s.data_dir.clone()),
            ..Default::default()
        },
    )
    .await;
    let r = client
        .get(format!("{}/c/rust", again.base))
        .header("Accept", AP)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Even kill -9 leaves no cluster behind: the postmaster dies with its parent.
    again.kill9();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !postgres_processes_mentioning(&dir).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "postgres orphaned after kill -9"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_is_a_group_with_key_webfinger_and_nodeinfo() {
    let (s, _db) = sluice_on_test_db(&[]).await;
    admin_ok(&s, &["community", "create", "rust", "--title", "Rust"]);
    let list = s.admin(&["community", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("rust"));

    let client = http_client();
    let group: Value = client
        .get(format!("{}/c/rust", s.base))
        .header("Accept", AP)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = format!("{}/c/rust", s.base);
    assert_eq!(group["type"], "Group");
    assert_eq!(group["id"], id);
    assert_eq!(group["name"], "Rust");
    assert_eq!(group["publicKey"]["owner"], id);
    assert_eq!(group["publicKey"]["id"], format!("{id}#main-key"));
    let pem = group["publicKey"]["publicKeyPem"].as_str().unwrap();
    assert!(
        sluice_apub::keypair::parse_public(pem).is_some(),
        "a parseable RSA public key"
    );
    assert_eq!(group["inbox"], format!("{id}/inbox"));
    assert_eq!(
        group["endpoints"]["sharedInbox"],
        format!("{}/inbox", s.base)
    );

    // A browser gets a page, not an error.
    let page = client
        .get(format!("{}/c/rust", s.base))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let domain = format!("127.0.0.1:{}", s.port);
    let wf: Value = client
        .get(format!(
            "{}/.well-known/webfinger?resource=acct:rust@{domain}",
            s.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let self_link = wf["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap();
    assert_eq!(self_link["href"], id);
    assert_eq!(self_link["type"], AP);
    let missing = client
        .get(format!(
            "{}/.well-known/webfinger?resource=acct:nope@{domain}",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["rc"], "NotFound");

    let links: Value = client
        .get(format!("{}/.well-known/nodeinfo", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let href = links["links"][0]["href"].as_str().unwrap().to_string();
    assert_eq!(
        links["links"][0]["rel"],
        "http://nodeinfo.diaspora.software/ns/schema/2.1"
    );
    let ni: Value = client
        .get(&href)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ni["version"], "2.1");
    assert_eq!(ni["software"]["name"], "sluice");
    assert!(ni["software"]["version"].is_string());
    assert_eq!(ni["protocols"], serde_json::json!(["activitypub"]));
    assert!(ni["usage"]["users"]["total"].is_number());
    assert!(ni["openRegistrations"].is_boolean());

    // The instance actor exists from the first start and signs our fetches.
    let app: Value = client
        .get(format!("{}/", s.base))
        .header("Accept", AP)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(app["type"], "Application");
    assert!(
        app["publicKey"]["publicKeyPem"]
            .as_str()
            .unwrap()
            .contains("PUBLIC KEY")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_database_roundtrips_moving() {
    let (s, _db) = sluice_on_test_db(&[]).await;
    let client = http_client();
    let before = metrics(&s.base).await;
    for _ in 0..3 {
        client
            .get(format!("{}/c/nope", s.base))
            .header("Accept", AP)
            .send()
            .await
            .unwrap();
    }
    let after = metrics(&s.base).await;
    let rt = |b: &str| metric_sum(b, "sluice_db_roundtrips_total");
    let lat = |b: &str| metric_sum(b, "sluice_db_query_duration_seconds_count");
    assert!(
        rt(&after) >= rt(&before) + 3.0,
        "round-trips {} -> {}",
        rt(&before),
        rt(&after)
    );
    assert!(
        lat(&after) >= lat(&before) + 3.0,
        "latency samples {} -> {}",
        lat(&before),
        lat(&after)
    );
    assert!(after.contains("sluice_db_pool_max_connections"));
    assert!(after.contains("sluice_build_info{version="));
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .current_dir(std::env::temp_dir())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sluice.toml");
    std::fs::write(&file, "domain = \"example.org\"\ndomian = \"typo\"\n").unwrap();
    let f = file.to_str().unwrap();

    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--config", f, "migrate"], vec![], "domian"),
        (
            vec!["migrate"],
            vec![("SLUICE_DATABASE_URL", "not a url at all://")],
            "SLUICE_DATABASE_URL",
        ),
        (
            vec!["migrate"],
            vec![("SLUICE_BIND", "here")],
            "SLUICE_BIND",
        ),
        (
            vec!["migrate"],
            vec![("SLUICE_POOLSIZE", "3")],
            "SLUICE_POOLSIZE",
        ),
        // Nothing listens on port 1: unreachable.
        (
            vec!["migrate"],
            vec![(
                "SLUICE_DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/sluice",
            )],
            "127.0.0.1:1",
        ),
    ];
    for (args, env, needle) in cases {
        let (code, stderr) = run(&args, &env);
        assert_ne!(code, 0, "{args:?} {env:?} should fail");
        assert_eq!(
            stderr.lines().count(),
            1,
            "one line expected, got:\n{stderr}"
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
