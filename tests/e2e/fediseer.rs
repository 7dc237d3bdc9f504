//! The Fediseer sync through the real binary, against a fake Fediseer on loopback that
//! serves the real API's paths and JSON shapes (`/api/v1/approvals/<domain>`,
//! `/api/v1/censures_given/<domain>`, `{"instances": [{"domain", "<kind>_reasons"}]}`),
//! in allow-list mode: an endorsement lets the peer in, a withdrawal takes it out again, a
//! censure blocks, manual entries survive every sync, and a Fediseer that fails (garbage,
//! 503, gone) changes nothing.

use crate::inbox::{deliver, known_signer, like};
use crate::support::{admin_ok, metric_sum, metrics, sluice_on_test_db};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use sluice_apub::signature::Signer;
use sluice_testkit::Sluice;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The signer `known_signer` stores a key for lives here.
const PEER: &str = "127.0.0.1:9";
const FEELER: &str = "feeler.example";
const JUDGE: &str = "judge.example";

/// How the fake answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Up,
    Garbage,
    Unavailable,
}

/// One giver's list: (domain, reason).
type List = Vec<(String, String)>;

/// The fake Fediseer's lists by (path kind, giver).
struct Fake {
    mode: Mutex<Mode>,
    lists: Mutex<HashMap<(String, String), List>>,
}

impl Fake {
    fn set(&self, kind: &str, by: &str, entries: &[(&str, &str)]) {
        self.lists.lock().unwrap().insert(
            (kind.into(), by.into()),
            entries
                .iter()
                .map(|(d, r)| (d.to_string(), r.to_string()))
                .collect(),
        );
    }

    fn mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// The real API's answer shape for one giver's list; censure lists are paged as the
/// Fediseer pages them (`page`, `limit`), endorsement lists served whole.
async fn answer(req: HttpRequest, fake: web::Data<Fake>) -> HttpResponse {
    match *fake.mode.lock().unwrap() {
        Mode::Garbage => return HttpResponse::Ok().body("<html>maintenance</html>"),
        Mode::Unavailable => return HttpResponse::ServiceUnavailable().finish(),
        Mode::Up => {}
    }
    let parts: Vec<&str> = req.path().trim_start_matches('/').split('/').collect();
    let ["api", "v1", kind, by] = parts[..] else {
        return HttpResponse::NotFound().json(json!({"message": "no such path"}));
    };
    let field = match kind {
        "approvals" => "endorsement_reasons",
        "censures_given" => "censure_reasons",
        "hesitations_given" => "hesitation_reasons",
        _ => return HttpResponse::NotFound().json(json!({"message": "no such path"})),
    };
    let Some(list) = fake
        .lists
        .lock()
        .unwrap()
        .get(&(kind.to_string(), by.to_string()))
        .cloned()
    else {
        return HttpResponse::NotFound().json(json!({
            "message": "No Instances found matching any of the provided domains."
        }));
    };
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let num =
        |k: &str, default: usize| query.get(k).and_then(|v| v.parse().ok()).unwrap_or(default);
    let page: Vec<_> = if kind == "censures_given" {
        let (page, limit) = (num("page", 1).max(1), num("limit", 1000));
        list.into_iter()
            .skip((page - 1) * limit)
            .take(limit)
            .collect()
    } else {
        list
    };
    let instances: Vec<Value> = page
        .iter()
        .enumerate()
        .map(|(i, (domain, reason))| {
            json!({
                "id": i + 1, "domain": domain, "software": "lemmy", "claimed": 1,
                "open_registrations": false, "email_verify": true, "approval_required": false,
                "has_captcha": null, "approvals": 0, "endorsements": 1, "guarantor": FEELER,
                "sysadmins": 1, "moderators": 2, "state": "UP",
                "visibility_endorsements": "OPEN", "visibility_censures": "OPEN",
                "visibility_hesitations": "OPEN", field: [reason],
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({"instances": instances}))
}

/// Starts the fake on a loopback port; returns its state, base URL and server handle.
fn start_fake() -> (web::Data<Fake>, String, actix_web::dev::ServerHandle) {
    let fake = web::Data::new(Fake {
        mode: Mutex::new(Mode::Up),
        lists: Mutex::new(HashMap::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = fake.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(answer))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (fake, base, handle)
}

/// `sluice fediseer sync`, expected to fail: its error line.
fn failing_sync(s: &Sluice) -> String {
    let out = s.admin(&["fediseer", "sync"]);
    assert!(!out.status.success(), "the sync should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The `instance list` line of `domain`.
fn line_of(list: &str, domain: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(domain))
        .unwrap_or_else(|| panic!("{domain} not listed:\n{list}"))
        .to_string()
}

/// Waits until the peer's next activity is answered `want` (a refusal: with rc `rc`).
async fn wait_for(base: &str, signer: &Signer, want: u16, rc: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64;
        let (status, v) = deliver(base, signer, &like(n)).await;
        if status == want && (want == 202 || v["rc"] == rc) {
            return;
        }
        assert!(Instant::now() < deadline, "still {status}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feelers_endorsements_and_censures_drive_the_allow_list_and_manual_entries_win() {
    let (fake, fake_base, fake_server) = start_fake();
    fake.set("approvals", FEELER, &[]);
    fake.set("censures_given", JUDGE, &[]);
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_INBOX_REFRESH_MS", "100"),
        ("SLUICE_FEDISEER_URL", &fake_base),
        ("SLUICE_FEDISEER_FEELERS", FEELER),
        ("SLUICE_FEDISEER_CENSURE_SOURCES", JUDGE),
        ("SLUICE_FEDISEER_SYNC_MINUTES", "10000"),
    ])
    .await;
    // `serve` syncs once at start; wait for it so it cannot apply its (empty) lists after
    // the syncs below.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sluice_db::synced_policy::status(&t.db)
        .await
        .unwrap()
        .last_success
        .is_none()
    {
        assert!(Instant::now() < deadline, "no sync at start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metric_sum(&metrics(&s.base).await, "sluice_fediseer_sync_total") >= 1.0);

    let signer = known_signer(&t).await;
    let wait_for = |want: u16, rc: &'static str| wait_for(&s.base, &signer, want, rc);
    admin_ok(&s, &["instance", "mode", "allowlist"]);
    admin_ok(
        &s,
        &["instance", "block", "mine.example", "--reason", "our call"],
    );
    admin_ok(
        &s,
        &["instance", "allow", "kept.example", "--reason", "friends"],
    );
    wait_for(403, "InstanceNotAllowed").await;

    // The feeler endorses the peer (and the instance we blocked ourselves); the judge
    // censures one we allowed ourselves and one nobody listed.
    fake.set(
        "approvals",
        FEELER,
        &[(PEER, "friendly admins"), ("mine.example", "")],
    );
    fake.set(
        "censures_given",
        JUDGE,
        &[
            ("kept.example", "spam"),
            ("Censured.Example.", "harassment"),
        ],
    );
    let out = admin_ok(&s, &["fediseer", "sync"]);
    assert!(out.contains(&format!("synced {PEER}")), "{out}");
    wait_for(202, "").await;
    let list = admin_ok(&s, &["instance", "list"]);
    let peer = line_of(&list, PEER);
    assert!(
        peer.contains("allow")
            && peer.contains("fediseer (endorsed by feeler.example)")
            && peer.contains("friendly admins"),
        "{peer}"
    );
    let censured = line_of(&list, "censured.example");
    assert!(
        censured.contains("block") && censured.contains("censured by judge.example"),
        "{censured}"
    );
    let manual = |list: &str| {
        for (domain, policy, reason) in [
            ("mine.example", "block", "our call"),
            ("kept.example", "allow", "friends"),
        ] {
            let l = line_of(list, domain);
            assert!(
                l.contains(policy) && l.contains("manual") && l.contains(reason),
                "{l}"
            );
        }
    };
    manual(&list);

    // A Fediseer answering garbage or 503 changes nothing: the policy (and its generation)
    // stay as they were, the peer stays in.
    let generation = || sluice_db::instances::policy_generation(&t.db);
    let before = (
        generation().await.unwrap(),
        admin_ok(&s, &["instance", "list"]),
    );
    for mode in [Mode::Garbage, Mode::Unavailable] {
        fake.mode(mode);
        let err = failing_sync(&s);
        assert!(err.contains("error:") && err.contains(&fake_base), "{err}");
        let after = (
            generation().await.unwrap(),
            admin_ok(&s, &["instance", "list"]),
        );
        assert_eq!(before, after);
        wait_for(202, "").await;
    }
    let doctor = s.admin(&["doctor", "--json", "--samples", "5"]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "fediseer")
        .unwrap_or_else(|| panic!("no fediseer check: {report:#}"))
        .clone();
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["message"].as_str().unwrap().contains("stay in force"),
        "{check}"
    );
    fake.mode(Mode::Up);

    // Withdrawn: the synced allow entry goes, and with it the peer.
    fake.set("approvals", FEELER, &[("mine.example", "")]);
    let out = admin_ok(&s, &["fediseer", "sync"]);
    assert!(out.contains(&format!("withdrawn {PEER}")), "{out}");
    wait_for(403, "InstanceNotAllowed").await;

    // Endorsed again but censured by the judge: the block wins.
    fake.set("approvals", FEELER, &[(PEER, "friendly admins")]);
    fake.set("censures_given", JUDGE, &[(PEER, "spam waves")]);
    admin_ok(&s, &["fediseer", "sync"]);
    wait_for(403, "InstanceBlocked").await;
    let list = admin_ok(&s, &["instance", "list"]);
    assert!(line_of(&list, PEER).contains("spam waves"), "{list}");
    assert!(
        !list.contains("censured.example"),
        "withdrawn censure: {list}"
    );

    // The censure withdrawn: the endorsement lets the peer in again.
    fake.set("censures_given", JUDGE, &[]);
    admin_ok(&s, &["fediseer", "sync"]);
    wait_for(202, "").await;

    // The Fediseer gone altogether: nothing changes either.
    fake_server.stop(true).await;
    let before = (
        generation().await.unwrap(),
        admin_ok(&s, &["instance", "list"]),
    );
    failing_sync(&s);
    let list = admin_ok(&s, &["instance", "list"]);
    assert_eq!(before, (generation().await.unwrap(), list.clone()));
    wait_for(202, "").await;
    manual(&list);
    assert!(line_of(&list, PEER).contains("fediseer"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_syncs_on_its_own_every_interval() {
    let (fake, fake_base, _server) = start_fake();
    fake.set("approvals", FEELER, &[(PEER, "")]);
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_INBOX_REFRESH_MS", "100"),
        ("SLUICE_FEDISEER_URL", &fake_base),
        ("SLUICE_FEDISEER_FEELERS", FEELER),
        ("SLUICE_FEDISEER_SYNC_MINUTES", "0.01"),
    ])
    .await;
    let signer = known_signer(&t).await;
    admin_ok(&s, &["instance", "mode", "allowlist"]);
    wait_for(&s.base, &signer, 202, "").await;
    fake.set("approvals", FEELER, &[]);
    wait_for(&s.base, &signer, 403, "InstanceNotAllowed").await;
    fake.set("approvals", FEELER, &[(PEER, "back")]);
    wait_for(&s.base, &signer, 202, "").await;
}
