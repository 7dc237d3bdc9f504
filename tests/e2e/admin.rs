//! The admin console in a real browser: Debian's chromium, headless, driven through
//! chromedriver (WebDriver) against the real binary. A TestPeer sends activities; the admin
//! logs in, finds the instance, blocks it from its page (the next activity is refused 403
//! `InstanceBlocked`), replays a failed activity, and sees a `<script>` in an activity as
//! text. Requests without the session or with a wrong CSRF token are refused.
//!
//! `SLUICE_SCREENSHOTS=docs/admin` (relative to the repository) saves a PNG of each page.

use crate::support::{admin_ok, sluice_on_test_db};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sluice_db::diesel;
use sluice_db::diesel_async::RunQueryDsl;
use sluice_testkit::peer::Tamper;
use sluice_testkit::{TestDb, TestPeer, free_port};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "e2e-admin-token-0123456789abcdef";
const SCRIPT: &str = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>";

/// chromedriver on a free port in a process group of its own, killed with the test: the
/// whole group, so the chromium it started goes too even when a failed assertion left the
/// browser session open.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the group is chromedriver's own.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

async fn browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (apt-get install chromium chromium-driver)");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"]
        }
    }))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&driver.url)
            .await
        {
            Ok(c) => return (driver, c),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    }
}

/// Saves a PNG of the current page when `SLUICE_SCREENSHOTS` names a directory.
async fn screenshot(c: &Client, name: &str) {
    let Ok(dir) = std::env::var("SLUICE_SCREENSHOTS") else {
        return;
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    error: Option<String>,
}

async fn journal_row(t: &TestDb, activity_id: &str) -> Row {
    let id = activity_id.to_string();
    let rows: Vec<Row> =
        t.db.run("test_admin_row", move |c| {
            Box::pin(
                sluice_db::sql(
                    "SELECT id, state, error FROM received_activity WHERE activity_id = $1",
                )
                .bind::<diesel::sql_types::Text, _>(id)
                .load(c),
            )
        })
        .await
        .unwrap();
    rows.into_iter().next().expect("journaled")
}

async fn sql(t: &TestDb, statement: &'static str) {
    t.db.run("test_admin_sql", move |c| {
        Box::pin(sluice_db::sql(statement).execute(c))
    })
    .await
    .unwrap();
}

/// The text of the page's first element matching `css`.
async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Clicks the page's first element matching `xpath`.
async fn click(c: &Client, xpath: &str) {
    c.find(Locator::XPath(xpath))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Whether the browser is at the console's login page.
async fn on_login_page(c: &Client) -> bool {
    c.current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/admin/login")
}

/// Fills in the login form as `who` with `token` and submits it.
async fn log_in(c: &Client, who: &str, token: &str) {
    let form = c.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("who", who).await.unwrap();
    form.set_by_name("token", token).await.unwrap();
    form.submit().await.unwrap();
}

/// Waits until the page's title starts with `title`; the page is in the panic otherwise.
async fn wait_title(c: &Client, title: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.title().await.unwrap().starts_with(title) {
        if Instant::now() > deadline {
            panic!(
                "no page titled {title}: at {} {}",
                c.current_url().await.unwrap(),
                c.source().await.unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // Generous: CI runs this beside other suites on two cores.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn like(peer: &TestPeer, actor: &str, n: u32) -> Value {
    json!({"@context": "https://www.w3.org/ns/activitystreams",
        "id": peer.url(&format!("/activities/like/{n}")), "type": "Like",
        "actor": actor, "object": peer.url("/post/1")})
}

/// A form body.
fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A client that keeps redirects for the test to see.
fn raw_client() -> reqwest::Client {
    let _ = sluice_testkit::http_client();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_blocks_replays_and_sees_peer_strings_as_text_in_a_browser() {
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_ADMIN_TOKEN", TOKEN),
        ("SLUICE_INBOX_REFUSAL_FLUSH_S", "0.3"),
    ])
    .await;
    let peer = TestPeer::start_on("127.0.0.71").await;
    let alice = peer.add_person("alice").await;
    let inbox = format!("{}/inbox", s.base);
    // Undos of likes never seen: the pipeline finishes them (ignored, remembered), which
    // gives the instance page's latency chart its points.
    for n in 1..=3 {
        let undo = json!({"@context": "https://www.w3.org/ns/activitystreams",
            "id": peer.url(&format!("/activities/undo/{n}")), "type": "Undo", "actor": alice,
            "object": like(&peer, &alice, n)});
        let d = peer.deliver(&inbox, "alice", &undo).await.unwrap();
        assert_eq!(d.status, 202, "{}", d.text);
    }
    let note_id = peer.url("/activities/create/script");
    let create = json!({"@context": "https://www.w3.org/ns/activitystreams",
        "id": note_id, "type": "Create", "actor": alice,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "object": {"id": peer.url("/note/script"), "type": "Note", "attributedTo": alice,
            "content": SCRIPT, "to": ["https://www.w3.org/ns/activitystreams#Public"]}});
    let d = peer.deliver(&inbox, "alice", &create).await.unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    // Whatever the pipeline made of it, the test then marks it given up (what a fetch that
    // keeps failing ends in) with a message that is markup too.
    wait_until("the pipeline finished the journal", || async {
        for id in [note_id.clone(), peer.url("/activities/undo/3")] {
            if journal_row(&t, &id).await.state == "pending" {
                return false;
            }
        }
        true
    })
    .await;
    sql(
        &t,
        "UPDATE received_activity SET state = 'failed', error_code = 'FetchFailed', \
         error = 'simulated <b>give-up</b>', attempts = 5 WHERE activity_id LIKE '%/create/script'",
    )
    .await;
    let failed_id = journal_row(&t, &note_id).await.id;
    // A forged signature: refused, and counted for the peer's instance by rc.
    let forged = peer
        .deliver_with(
            &inbox,
            "alice",
            &like(&peer, &alice, 50),
            Tamper::SignedWithWrongKey,
        )
        .await
        .unwrap();
    assert!((400..500).contains(&forged.status), "{}", forged.text);
    let forged_rc = forged.rc().expect("an rc");
    // A block synced from the Fediseer, written as the sync writes it.
    sql(
        &t,
        "INSERT INTO instance (domain, policy, policy_reason, policy_updated, policy_source, \
                               policy_source_detail) \
         VALUES ('censured.example', 'block', 'spam', now(), 'fediseer', \
                 'censured by a.example, b.example')",
    )
    .await;

    let (_driver, c) = browser().await;
    // Logging in.
    c.goto(&format!("{}/admin", s.base)).await.unwrap();
    assert!(on_login_page(&c).await);
    screenshot(&c, "login").await;
    log_in(&c, "e2e-admin", TOKEN).await;
    wait_title(&c, "Federation health").await;
    let overview = c.source().await.unwrap();
    assert!(overview.contains("Acknowledgement latency"), "{overview}");
    assert!(
        overview.contains("db_roundtrip"),
        "the doctor's verdicts: {overview}"
    );
    screenshot(&c, "overview").await;
    // Readable on a phone: the same page at a phone's width.
    c.set_window_size(390, 844).await.unwrap();
    screenshot(&c, "overview-phone").await;
    c.set_window_size(1280, 1000).await.unwrap();

    // The instance that sent activities is listed, with its count.
    c.goto(&format!("{}/admin/instances", s.base))
        .await
        .unwrap();
    c.find(Locator::LinkText(peer.domain()))
        .await
        .expect("the peer is listed");
    screenshot(&c, "instances").await;
    // The search box narrows the table; a search matching nothing lists nothing.
    let search = c.form(Locator::Css("form[role=search]")).await.unwrap();
    search.set_by_name("q", "no-such-peer").await.unwrap();
    search.submit().await.unwrap();
    wait_until("the search result", || async {
        c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("no-such-peer")
    })
    .await;
    assert!(
        c.find_all(Locator::LinkText(peer.domain()))
            .await
            .unwrap()
            .is_empty()
    );
    c.goto(&format!(
        "{}/admin/instances?sort=received&dir=desc&q=127.0.0.71",
        s.base
    ))
    .await
    .unwrap();
    let link = c
        .find(Locator::LinkText(peer.domain()))
        .await
        .expect("found by its address");
    link.click().await.unwrap();
    wait_title(&c, peer.domain()).await;
    let page = c.source().await.unwrap();
    assert!(page.contains("<svg"), "the latency chart: {page}");
    // The forged request's refusal, once a flush wrote it.
    wait_until("the refusal counted on the instance page", || async {
        c.refresh().await.unwrap();
        c.source()
            .await
            .unwrap()
            .contains(&format!("{forged_rc} 1"))
    })
    .await;
    screenshot(&c, "instance").await;

    // Blocking it from its page: its next activity is refused.
    c.find(Locator::Id("reason"))
        .await
        .unwrap()
        .send_keys("spam wave <i>from</i> here")
        .await
        .unwrap();
    click(&c, "//button[@value='block']").await;
    wait_until("blocked on the page", || async {
        c.source().await.unwrap().contains("blocked")
    })
    .await;
    let mut n = 100;
    wait_until("the next activity refused", || {
        n += 1;
        let (peer, alice, inbox) = (&peer, &alice, &inbox);
        async move {
            let d = peer
                .deliver(inbox, "alice", &like(peer, alice, n))
                .await
                .unwrap();
            d.status == 403 && d.rc().as_deref() == Some("InstanceBlocked")
        }
    })
    .await;

    // The failed activity: its markup shown as text, nothing of it run or rendered.
    c.goto(&format!("{}/admin/journal", s.base)).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Journal · sluice admin");
    assert!(
        c.find_all(Locator::Css("main script, main img, main b"))
            .await
            .unwrap()
            .is_empty(),
        "peer markup became elements"
    );
    let text = text_of(&c, "main").await;
    assert!(text.contains("simulated <b>give-up</b>"), "{text}");
    click(&c, "//details/summary").await;
    let raw = text_of(&c, "details pre").await;
    assert!(
        raw.contains("<script>document.title='pwned'</script>"),
        "{raw}"
    );
    screenshot(&c, "journal").await;
    click(
        &c,
        &format!("//form[input[@name='id' and @value='{failed_id}']]/button"),
    )
    .await;
    wait_until("the replayed row back in the pipeline", || async {
        journal_row(&t, &note_id).await.error.as_deref() != Some("simulated <b>give-up</b>")
    })
    .await;

    // Every change is in the log, with who made it, the command line's included.
    admin_ok(
        &s,
        &[
            "instance",
            "allow",
            "friend.example",
            "--reason",
            "cli reason",
        ],
    );
    c.goto(&format!("{}/admin/policies", s.base)).await.unwrap();
    let text = text_of(&c, "main").await;
    assert!(
        text.contains("e2e-admin") && text.contains("replay"),
        "{text}"
    );
    assert!(text.contains("spam wave <i>from</i> here"), "{text}");
    assert!(
        text.contains("command line (") && text.contains("cli reason"),
        "{text}"
    );
    // Where each rule came from: the synced block names its sources and reason, the
    // console's block who set it.
    assert!(
        text.contains("Fediseer: censured by a.example, b.example (spam)"),
        "{text}"
    );
    assert!(
        text.contains("manual, by e2e-admin, ") && text.contains(": spam wave <i>from</i> here"),
        "{text}"
    );
    screenshot(&c, "policies").await;
    c.goto(&format!("{}/admin/instances?q=censured", s.base))
        .await
        .unwrap();
    let text = text_of(&c, "main").await;
    assert!(
        text.contains("blocked (rule on this domain)")
            && text.contains("Fediseer: censured by a.example, b.example (spam)"),
        "{text}"
    );

    // Outside the browser: no session, or the session with a wrong CSRF token: refused.
    let http = raw_client();
    let r = http
        .get(format!("{}/admin/instances", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["rc"], "AdminSessionInvalid");
    let r = http
        .post(format!("{}/admin/policies", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("csrf", "x"),
            ("action", "unblock"),
            ("domain", peer.domain()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let session = c
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name() == "sluice_admin")
        .expect("the session cookie");
    assert!(session.http_only().unwrap_or(false));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    let cookie = format!("sluice_admin={}", session.value());
    let r = http
        .get(format!("{}/admin/journal", s.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    for (path, status, rc) in [
        ("/admin/instances/unknown.example", 404, "NotFound"),
        ("/admin/instances/not%20a%20domain", 400, "BadRequest"),
        ("/admin/nothing-here", 404, "NotFound"),
    ] {
        let r = http
            .get(format!("{}{path}", s.base))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["rc"], rc, "{path}");
    }
    let r = http
        .post(format!("{}/admin/policies", s.base))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("csrf", "not-the-token"),
            ("action", "unblock"),
            ("domain", peer.domain()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["rc"], "AdminCsrfInvalid");
    let d = peer
        .deliver(&inbox, "alice", &like(&peer, &alice, 999))
        .await
        .unwrap();
    assert_eq!(d.rc().as_deref(), Some("InstanceBlocked"), "still blocked");

    // A wrong token at login is refused too.
    click(&c, "//button[text()='Log out']").await;
    wait_until("the login page", || on_login_page(&c)).await;
    log_in(&c, "mallory", "guess").await;
    wait_until("the refusal", || async {
        c.source().await.unwrap().contains("AdminTokenInvalid")
    })
    .await;
    let r = http
        .get(format!("{}/admin", s.base))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "logged out: the old cookie opens nothing");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_off_without_a_token() {
    let (s, _t) = sluice_on_test_db(&[]).await;
    for path in ["/admin", "/admin/login", "/admin/instances"] {
        let r = raw_client()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["rc"], "NotFound", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_logins_are_bounded_then_refused_429() {
    let (s, _t) = sluice_on_test_db(&[("SLUICE_ADMIN_TOKEN", TOKEN)]).await;
    // Ten wrong guesses are answered (more if the bucket refilled meanwhile), then 429.
    let mut wrong = 0;
    loop {
        let r = post_login(&s.base, "a wrong guess").await;
        if r.status() == 429 {
            break;
        }
        assert_eq!(r.status(), 403);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["rc"], "AdminTokenInvalid");
        wrong += 1;
        assert!(wrong <= 40, "wrong logins are not bounded");
    }
    assert!(wrong >= 10, "only {wrong} wrong logins answered");
    // The bucket is empty: every login waits, the right token too (no oracle meanwhile).
    for token in ["a wrong guess", TOKEN] {
        let r = post_login(&s.base, token).await;
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["rc"], "RateLimited");
    }
}

/// The login form: its double-submit cookie and its CSRF token.
async fn login_form(base: &str) -> (String, String) {
    let r = raw_client()
        .get(format!("{base}/admin/login"))
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let pre = set.split(';').next().unwrap().to_string();
    let body = r.text().await.unwrap();
    let csrf = body
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login form's token")
        .to_string();
    (pre, csrf)
}

/// Posts the login form with `token`.
async fn post_login(base: &str, token: &str) -> reqwest::Response {
    let (pre, csrf) = login_form(base).await;
    raw_client()
        .post(format!("{base}/admin/login"))
        .header("Cookie", pre)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("csrf", csrf.as_str()),
            ("who", "bench"),
            ("token", token),
        ]))
        .send()
        .await
        .unwrap()
}

/// Logs in over plain HTTP; returns the `Cookie` header of the session.
async fn login(base: &str) -> String {
    let r = post_login(base, TOKEN).await;
    assert_eq!(r.status(), 303);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sluice_admin="))
        .and_then(|v| v.split(';').next())
        .expect("the session cookie")
        .to_string()
}

/// Render time of each page with 1,000 known instances and an hour of journal at 10
/// activities/s: a measurement printed for docs/admin.md, never asserted. Run with
/// `cargo test -p sluice-server --test e2e admin::render_time -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn render_time_with_1000_instances() {
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_ADMIN_TOKEN", TOKEN),
        ("SLUICE_PIPELINE_ENABLED", "false"),
        ("SLUICE_LOG", "warn"),
    ])
    .await;
    sql(
        &t,
        "INSERT INTO instance (domain, software, policy) \
         SELECT 'peer' || i || '.example', 'lemmy', CASE WHEN i % 50 = 0 THEN 'block' ELSE 'none' END \
         FROM generate_series(1, 1000) i",
    )
    .await;
    sql(
        &t,
        "INSERT INTO delivery_state (instance_id, last_success_at, last_error, fail_count) \
         SELECT id, now() - interval '1 minute', \
                CASE WHEN id % 10 = 0 THEN 'timeout' END, (id % 10 = 0)::int \
         FROM instance WHERE domain LIKE 'peer%'",
    )
    .await;
    sql(
        &t,
        "INSERT INTO received_activity (activity_id, actor, kind, raw, received_at, state, processed_at) \
         SELECT 'https://peer' || (i % 1000 + 1) || '.example/activities/' || i, \
                'https://peer' || (i % 1000 + 1) || '.example/u/x', 'Like', '{}', \
                now() - (i * interval '100 milliseconds'), 'done', \
                now() - (i * interval '100 milliseconds') + interval '40 milliseconds' \
         FROM generate_series(1, 36000) i",
    )
    .await;
    sql(
        &t,
        "INSERT INTO received_activity (activity_id, actor, kind, raw, state, error_code, error) \
         SELECT 'https://peer1.example/failed/' || i, 'https://peer1.example/u/x', 'Create', \
                '{\"type\": \"Create\"}', 'failed', 'FetchFailed', 'timeout' \
         FROM generate_series(1, 100) i",
    )
    .await;
    sql(&t, "ANALYZE").await;
    let cookie = login(&s.base).await;
    let http = raw_client();
    println!("| page | p50 | p99 | samples |\n| --- | --- | --- | --- |");
    for path in [
        "/admin",
        "/admin/instances",
        "/admin/instances?sort=received&dir=desc&q=peer1",
        "/admin/instances/peer1.example",
        "/admin/journal",
        "/admin/policies",
    ] {
        let url = format!("{}{path}", s.base);
        let get = || http.get(&url).header("Cookie", &cookie).send();
        assert_eq!(get().await.unwrap().status(), 200, "{path}");
        let mut times = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            let r = get().await.unwrap();
            let _ = r.bytes().await.unwrap();
            times.push(start.elapsed());
        }
        times.sort();
        let pick = |q: f64| times[((q * times.len() as f64).ceil() as usize).max(1) - 1];
        println!(
            "| `{path}` | {:.1} ms | {:.1} ms | {} |",
            pick(0.5).as_secs_f64() * 1e3,
            pick(0.99).as_secs_f64() * 1e3,
            times.len()
        );
    }
}

/// The review queue in the browser: a policy holds a post; the Journal page lists it with
/// the policy and why; the admin approves it there and the pipeline applies it (skipping
/// the policy that held it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_approves_a_held_activity_in_a_browser() {
    use crate::policies::{create_page, deliver};
    use crate::support::{admin_ok as admin, journal_end};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.toml");
    std::fs::write(
        &file,
        "[[policy]]\nname = \"watch\"\nkind = \"keyword\"\nhold = [\"(?i)review me\"]\n",
    )
    .unwrap();
    let file = file.to_string_lossy().to_string();
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_ADMIN_TOKEN", TOKEN),
        ("SLUICE_POLICY_FILE", file.as_str()),
        ("SLUICE_INBOX_REFRESH_MS", "100"),
    ])
    .await;
    admin(&s, &["community", "create", "main"]);
    let community = format!("{}/c/main", s.base);
    let peer = TestPeer::start_on("127.0.0.72").await;
    let author = peer.add_person("author").await;
    let held = create_page(&peer, &author, &community, 1, "please review me");
    let held_id = held["id"].as_str().unwrap().to_string();
    let (status, _) = deliver(&peer, &format!("{community}/inbox"), &author, &held).await;
    assert_eq!(status, 202);
    assert_eq!(journal_end(&t.db, &held_id).await, "held PolicyHeld");
    let row = journal_row(&t, &held_id).await.id;

    let (_driver, c) = browser().await;
    c.goto(&format!("{}/admin", s.base)).await.unwrap();
    let form = c.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("who", "e2e-reviewer").await.unwrap();
    form.set_by_name("token", TOKEN).await.unwrap();
    form.submit().await.unwrap();
    wait_title(&c, "Federation health").await;
    c.goto(&format!("{}/admin/journal", s.base)).await.unwrap();
    wait_title(&c, "Journal").await;
    let text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("Held for review") && text.contains("watch"),
        "{text}"
    );
    assert!(
        text.contains("review me"),
        "the reason names the pattern: {text}"
    );
    screenshot(&c, "journal_held").await;
    c.find(Locator::XPath(&format!(
        "//form[contains(@action, '/approve') and input[@name='id' and @value='{row}']]/button"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    // The click returns when the browser has sent the form, not when the server has acted.
    wait_until("the approval taken", || {
        let (db, id) = (t.db.clone(), held_id.clone());
        async move { !journal_end(&db, &id).await.starts_with("held") }
    })
    .await;
    assert_eq!(journal_end(&t.db, &held_id).await, "done -");
    let page = held["object"]["id"].as_str().unwrap().to_string();
    wait_until("the approved post stored", || {
        let page = page.clone();
        let db = t.db.clone();
        async move {
            let n: Vec<Row> = db
                .run("test_admin_post", move |c| {
                    Box::pin(
                        sluice_db::sql(
                            "SELECT id, 'x' AS state, NULL::text AS error FROM post WHERE ap_id = $1",
                        )
                        .bind::<diesel::sql_types::Text, _>(page)
                        .load(c),
                    )
                })
                .await
                .unwrap();
            !n.is_empty()
        }
    })
    .await;
    // Back on the Journal page (the form redirects there): the row is no longer held.
    c.goto(&format!("{}/admin/journal", s.base)).await.unwrap();
    wait_title(&c, "Journal").await;
    let approve =
        format!("//form[contains(@action, '/approve') and input[@name='id' and @value='{row}']]");
    assert!(
        c.find_all(Locator::XPath(&approve))
            .await
            .unwrap()
            .is_empty()
    );
}
