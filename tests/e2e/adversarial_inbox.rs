//! The inbox against hostile peers, through the real binary: each TestPeer on its own
//! loopback address plays an attacker or its victim. Every attack is refused with an `rc`
//! (or neutralised), and nothing it sent is journaled.

use crate::support::{admin_ok, metric_sum, metrics, sluice_on_test_db};
use serde_json::{Value, json};
use sluice_apub::signature::Signer;
use sluice_db::diesel;
use sluice_db::diesel_async::RunQueryDsl;
use sluice_testkit::peer::TestPeer;
use sluice_testkit::{TestDb, http_client};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Signs as `actor` under `key_id` with a key the test holds.
struct Raw {
    actor: String,
    signer: Signer,
}

/// A person `/u/NAME` on `peer` whose key the test holds, published in its actor document.
fn published(peer: &TestPeer, name: &str) -> Raw {
    let id = peer.url(&format!("/u/{name}"));
    let key_id = format!("{id}#main-key");
    let kp = sluice_apub::keypair::generate().unwrap();
    peer.serve_json(
        &format!("/u/{name}"),
        json!({"@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": id, "type": "Person", "preferredUsername": name, "inbox": format!("{id}/inbox"),
            "publicKey": {"id": key_id, "owner": id, "publicKeyPem": kp.public_pem}}),
    );
    Raw {
        actor: id,
        signer: Signer::from_pem(&key_id, &kp.private_pem).unwrap(),
    }
}

/// Signatures for `actor` under `key_id`, with a key nobody published.
fn forged(actor: &str, key_id: &str) -> Raw {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let pem = PEM.get_or_init(|| sluice_apub::keypair::generate().unwrap().private_pem);
    Raw {
        actor: actor.to_string(),
        signer: Signer::from_pem(key_id, pem).unwrap(),
    }
}

fn like(host_url: &str, actor: &str, n: u64) -> String {
    json!({"id": format!("{host_url}/activities/like/{n}"), "type": "Like", "actor": actor,
        "object": format!("{host_url}/post/1")})
    .to_string()
}

/// POSTs `body` to `/inbox`, signed by `who`; `tweak` may edit the Signature header.
async fn post(base: &str, who: &Raw, body: &str, tweak: impl Fn(String) -> String) -> (u16, Value) {
    let url = url::Url::parse(&format!("{base}/inbox")).unwrap();
    let s = who
        .signer
        .sign("POST", &url, Some(body.as_bytes()), SystemTime::now());
    let r = http_client()
        .post(url)
        .header("Content-Type", "application/activity+json")
        .header("Date", s.date)
        .header("Digest", s.digest.unwrap())
        .header("Signature", tweak(s.signature))
        .body(body.to_string())
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn column(t: &TestDb, sql: &'static str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let rows: Vec<Row> =
        t.db.run("test_column", move |c| {
            Box::pin(sluice_db::sql(sql).load(c))
        })
        .await
        .unwrap();
    rows.into_iter().map(|r| r.v).collect()
}

async fn journal(t: &TestDb) -> Vec<String> {
    column(
        t,
        "SELECT activity_id AS v FROM received_activity ORDER BY id",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signers_key_ids_times_and_numbers_are_refused() {
    let (s, t) = sluice_on_test_db(&[]).await;
    let base = &s.base;

    // mallory signs bob's activity with her own published key (same host).
    let evil = TestPeer::start_on("127.0.0.41").await;
    let bob = evil.add_person("bob").await;
    let mallory = published(&evil, "mallory");
    let as_bob = Raw {
        actor: bob.clone(),
        signer: mallory.signer.clone(),
    };
    // A forward by a signer whose key is not known here: its key is never fetched for it.
    let (status, v) = post(base, &as_bob, &like(evil.base(), &bob, 1), |h| h).await;
    assert_eq!((status, v["rc"].as_str()), (401, Some("KeyUnknown")), "{v}");
    assert_eq!(
        evil.fetch_count("/u/mallory") + evil.fetch_count("/u/bob"),
        0
    );

    // keyIds that are not the actor's document (forwards by unknown signers): refused
    // before any GET at the victim.
    let victim = TestPeer::start_on("127.0.0.42").await;
    let carol = victim.add_person("carol").await;
    for i in 0..20 {
        let key_id = victim.url(&format!("/api/admin/purge/{i}#k"));
        let (status, v) = post(
            base,
            &forged(&carol, &key_id),
            &like(victim.base(), &carol, i),
            |h| h,
        )
        .await;
        assert_eq!((status, v["rc"].as_str()), (401, Some("KeyUnknown")), "{v}");
    }
    let gets: usize = (0..20)
        .map(|i| victim.fetch_count(&format!("/api/admin/purge/{i}")))
        .sum::<usize>()
        + victim.fetch_count("/u/carol");
    assert_eq!(gets, 0, "the victim received no GET");

    // A keyId on our own domain: a local key or nothing, never fetched, never stored.
    let ghost = format!("{base}/u/ghost");
    let body = json!({"id": format!("{base}/activities/like/1"), "type": "Like", "actor": ghost,
        "object": format!("{base}/post/1")})
    .to_string();
    let (status, v) = post(
        base,
        &forged(&ghost, &format!("{ghost}#main-key")),
        &body,
        |h| h,
    )
    .await;
    assert_eq!((status, v["rc"].as_str()), (401, Some("KeyUnknown")), "{v}");
    admin_ok(&s, &["user", "create", "dave"]);
    let dave = format!("{base}/u/dave");
    let body = json!({"id": format!("{base}/activities/like/2"), "type": "Like", "actor": dave,
        "object": format!("{base}/post/1")})
    .to_string();
    let (status, v) = post(
        base,
        &forged(&dave, &format!("{dave}#main-key")),
        &body,
        |h| h,
    )
    .await;
    assert_eq!(
        (status, v["rc"].as_str()),
        (401, Some("SignatureInvalid")),
        "dave's local key was used, and the forgery does not verify with it: {v}"
    );
    let m = metrics(base).await;
    assert_eq!(
        metric_sum(&m, r#"sluice_key_lookups_total{tier="fetch"}"#)
            + metric_sum(&m, r#"sluice_key_lookups_total{tier="refetch"}"#),
        0.0,
        "no key was fetched: {m}"
    );
    assert!(
        column(&t, "SELECT key_id AS v FROM remote_key")
            .await
            .is_empty()
    );

    // Signature times no library could add to: 401 with a JSON body, connection answered.
    let honest = TestPeer::start_on("127.0.0.43").await;
    let erin = published(&honest, "erin");
    for param in [
        "created=18446744073709551615",
        "expires=18446744073709551615",
    ] {
        let (status, v) = post(base, &erin, &like(honest.base(), &erin.actor, 7), |h| {
            h.replacen(',', &format!(",{param},"), 1)
        })
        .await;
        assert_eq!(
            (status, v["rc"].as_str()),
            (401, Some("SignatureMalformed")),
            "{v}"
        );
    }

    // A number that underflows to zero: 400, not a 500 from the database.
    let body = format!(
        r#"{{"id":"{}/activities/like/8","type":"Like","actor":"{}","object":"{}/post/1","x":1e-20000}}"#,
        honest.base(),
        erin.actor,
        honest.base()
    );
    let (status, v) = post(base, &erin, &body, |h| h).await;
    assert_eq!(
        (status, v["rc"].as_str()),
        (400, Some("NumberOutOfRange")),
        "{v}"
    );

    assert!(
        journal(&t).await.is_empty(),
        "nothing journaled, so nothing applied"
    );
    // The honest sender is still welcome.
    assert_eq!(
        post(base, &erin, &like(honest.base(), &erin.actor, 9), |h| h)
            .await
            .0,
        202
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_actors_delete_is_journaled_under_an_id_sluice_derives() {
    let (s, t) = sluice_on_test_db(&[]).await;
    let peer = TestPeer::start_on("127.0.0.44").await;
    let frank = peer.add_person("frank").await;
    // frank is a person we know.
    let domain = peer.domain().to_string();
    let known = format!(
        "WITH i AS (INSERT INTO instance (domain) VALUES ('{domain}') RETURNING id) \
         INSERT INTO person (ap_id, instance_id, name, inbox) SELECT '{frank}', id, 'frank', \
         '{frank}/inbox' FROM i"
    );
    t.db.run("test_known_person", move |c| {
        Box::pin(async move { diesel::sql_query(known).execute(c).await.map(|_| ()) })
    })
    .await
    .unwrap();
    peer.gone("frank");
    // The sender chooses an id it wants to squat, and removeData.
    let squatted = peer.url("/post/12345");
    let delete = json!({"id": squatted, "type": "Delete", "actor": frank, "object": frank,
        "removeData": true});
    let d = peer
        .deliver(&format!("{}/inbox", s.base), "frank", &delete)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    let derived = format!("{frank}#sluice-gone");
    assert_eq!(journal(&t).await, vec![derived.clone()]);
    let raw = column(&t, "SELECT raw::text AS v FROM received_activity").await;
    let raw: Value = serde_json::from_str(&raw[0]).unwrap();
    assert_eq!(raw["id"], derived.as_str());
    assert!(raw.get("removeData").is_none(), "{raw}");
    assert_eq!(
        (raw["actor"].as_str(), raw["object"].as_str()),
        (Some(frank.as_str()), Some(frank.as_str()))
    );

    // The pipeline applies it: frank's account is deleted.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let deleted = column(&t, "SELECT deleted::text AS v FROM person").await;
        if deleted == ["true"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "frank not deleted: {deleted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = column(&t, "SELECT state AS v FROM received_activity").await;
    assert_eq!(state, ["done"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_past_its_rate_gets_429_with_retry_after() {
    let (s, _t) = sluice_on_test_db(&[
        ("SLUICE_INBOX_RATE_LIMIT_PER_INSTANCE", "1"),
        ("SLUICE_INBOX_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let flood = TestPeer::start_on("127.0.0.45").await;
    let gus = published(&flood, "gus");
    let mut answers = Vec::new();
    for n in 0..4 {
        answers.push(post(&s.base, &gus, &like(flood.base(), &gus.actor, n), |h| h).await);
    }
    assert_eq!((answers[0].0, answers[1].0), (202, 202));
    let limited: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert!(!limited.is_empty(), "{answers:?}");
    assert!(
        limited.iter().all(|(_, v)| v["rc"] == "RateLimited"),
        "{answers:?}"
    );
}

/// Sends `bytes` on a fresh connection, then reads until the server closes it or `wait`.
async fn raw_exchange(base: &str, bytes: &[u8], pause_after: Option<Duration>) -> String {
    let addr = base.trim_start_matches("http://");
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(bytes).await.unwrap();
    if let Some(p) = pause_after {
        tokio::time::sleep(p).await;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn json_rc(answer: &str) -> (u16, String) {
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert!(v["error"].is_string(), "not a JSON refusal: {answer:?}");
    (status, v["rc"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frameworks_own_refusals_are_json_and_readyz_has_a_deadline() {
    let (s, t) = sluice_on_test_db(&[]).await;
    let host = s.base.trim_start_matches("http://").to_string();

    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let a = raw_exchange(&s.base, huge.as_bytes(), None).await;
    assert_eq!(json_rc(&a), (431, "HeadersTooLarge".into()), "{a}");

    let smuggle = format!(
        "POST /inbox HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    );
    let a = raw_exchange(&s.base, smuggle.as_bytes(), None).await;
    assert_eq!(json_rc(&a), (400, "BadRequest".into()), "{a}");

    // Headers that never finish: 408 once the server stops waiting.
    let slow = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ");
    let a = raw_exchange(&s.base, slow.as_bytes(), None).await;
    assert_eq!(json_rc(&a), (408, "RequestTimeout".into()), "{a}");

    let client = http_client();
    for (method, path, status, rc) in [
        ("GET", "/no/such/route", 404, "NotFound"),
        // actix-web's own extractor refusal (a plain-text body before the middleware).
        (
            "GET",
            "/.well-known/webfinger?resource=a&resource=b",
            400,
            "BadRequest",
        ),
        ("GET", "/inbox", 405, "MethodNotAllowed"),
    ] {
        let r = client
            .request(method.parse().unwrap(), format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["rc"], rc, "{method} {path}: {v}");
    }

    // /readyz while its query waits behind a lock: answered 503 within the deadline.
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let db = t.db.clone();
    let holder = tokio::spawn(async move {
        let mut conn = db.get().await?;
        conn.run_tx("test_lock_migrations", move |c| {
            Box::pin(async move {
                sluice_db::sql("LOCK TABLE __diesel_schema_migrations IN ACCESS EXCLUSIVE MODE")
                    .execute(&mut &*c)
                    .await?;
                let _ = locked_tx.send(());
                tokio::time::sleep(Duration::from_secs(6)).await;
                Ok(())
            })
        })
        .await
    });
    locked_rx.await.unwrap();
    let r = client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["rc"], "NotReady", "{v}");
    holder.await.unwrap().unwrap();
    let r = client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Polls `sql` (one text column) until it returns `want`, or fails after 20 s.
async fn wait_for(t: &TestDb, sql: &'static str, want: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = column(t, sql).await;
        if got == want {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{sql}: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_keeps_the_exact_bytes_and_the_pipeline_reads_them() {
    let (s, t) = sluice_on_test_db(&[("SLUICE_INBOX_REFRESH_MS", "100")]).await;
    admin_ok(&s, &["community", "create", "main"]);
    let peer = TestPeer::start_on("127.0.0.46").await;
    let kim = published(&peer, "kim");
    let community = format!("{}/c/main", s.base);
    // Odd whitespace, key order, a duplicate key (its last value counts, as for the inbox)
    // and a number of 40 digits: jsonb would have normalised every one of them.
    let body = format!(
        "{{ \"type\" :\t\"Follow\",\n  \"object\":\"{community}\" ,\"actor\" : \"{}\",\r\n\
         \"id\":\"{}/activities/follow/1\", \"summary\":\"first\", \"summary\":\"second\",\n\
         \"sluice:n\": 1234567890123456789012345678901234567890 , \"sluice:f\": 1.50E+3 }}\n",
        kim.actor,
        peer.base()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, v) = post(&s.base, &kim, &body, |h| h).await;
        if status == 202 {
            break;
        }
        // The inbox learns of the community at its next refresh.
        assert!(
            status == 404 && std::time::Instant::now() < deadline,
            "{status} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = column(&t, "SELECT raw AS v FROM received_activity").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].as_bytes(),
        body.as_bytes(),
        "stored byte for byte"
    );

    // The pipeline reads those bytes and applies the Follow.
    wait_for(&t, "SELECT state AS v FROM received_activity", &["done"]).await;
    wait_for(
        &t,
        "SELECT p.ap_id AS v FROM community_follow f JOIN person p ON p.id = f.person_id",
        &[kim.actor.as_str()],
    )
    .await;
}

/// `state rc` of the journal row of `id`, once the pipeline is done with it.
async fn journal_end(t: &TestDb, id: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let owned = id.to_string();
        let got: Vec<Row> =
            t.db.run("test_journal_end", move |c| {
                Box::pin(
                    sluice_db::sql(
                        "SELECT state || ' ' || coalesce(error_code, '-') AS v \
                         FROM received_activity WHERE activity_id = $1",
                    )
                    .bind::<diesel::sql_types::Text, _>(owned)
                    .load(c),
                )
            })
            .await
            .unwrap();
        if let Some(r) = <[Row]>::first(&got)
            && !r.v.starts_with("pending")
        {
            return r.v.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{id}: still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_activity_counts_only_as_its_origin_serves_it() {
    let (s, t) = sluice_on_test_db(&[
        ("SLUICE_INBOX_REFRESH_MS", "100"),
        ("SLUICE_DELIVERY_POLL_MS", "50"),
    ])
    .await;
    admin_ok(&s, &["community", "create", "main"]);
    let community = format!("{}/c/main", s.base);
    let origin = TestPeer::start_on("127.0.0.47").await;
    let olive = origin.add_person("olive").await;
    let forwarder = TestPeer::start_on("127.0.0.48").await;
    let fred = published(&forwarder, "fred");
    let elsewhere = TestPeer::start_on("127.0.0.49").await;
    let pat = elsewhere.add_person("pat").await;

    // fred signs for himself first (so his key is known), once the inbox knows `main`.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, v) = post(
            &s.base,
            &fred,
            &like(forwarder.base(), &fred.actor, 1),
            |h| h,
        )
        .await;
        if status == 202 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A genuine forward: olive's Follow, served at its id by her own instance (with a field
    // the forwarded copy lacks, to tell which copy was applied).
    let follow_id = origin.url("/activities/follow/1");
    let served = json!({"@context": "https://www.w3.org/ns/activitystreams", "id": follow_id,
        "type": "Follow", "actor": olive, "object": community, "sluice:copy": "origin"});
    origin.serve_json("/activities/follow/1", served);
    let forwarded = json!({"id": follow_id, "type": "Follow", "actor": olive,
        "object": community, "sluice:copy": "forwarder"});
    let as_olive = Raw {
        actor: olive.clone(),
        signer: fred.signer.clone(),
    };
    let (status, v) = post(&s.base, &as_olive, &forwarded.to_string(), |h| h).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(journal_end(&t, &follow_id).await, "done -");
    assert_eq!(origin.fetch_count("/activities/follow/1"), 1);
    wait_for(
        &t,
        "SELECT p.ap_id AS v FROM community_follow f JOIN person p ON p.id = f.person_id",
        &[olive.as_str()],
    )
    .await;
    // The Accept carries the origin's copy.
    let got = origin
        .wait_received(1, Duration::from_secs(30))
        .await
        .unwrap();
    let accept = got[0].json.clone().unwrap();
    assert_eq!(accept["type"], "Accept", "{accept}");
    assert_eq!(accept["object"]["sluice:copy"], "origin", "{accept}");

    // Forged: pat's Follow, which his instance does not serve.
    let forged_id = elsewhere.url("/activities/follow/2");
    let forged = json!({"id": forged_id, "type": "Follow", "actor": pat, "object": community});
    let as_pat = Raw {
        actor: pat.clone(),
        signer: fred.signer.clone(),
    };
    assert_eq!(
        post(&s.base, &as_pat, &forged.to_string(), |h| h).await.0,
        202
    );
    assert_eq!(
        journal_end(&t, &forged_id).await,
        "ignored ForwardUnverified"
    );
    assert_eq!(elsewhere.fetch_count("/activities/follow/2"), 1);

    // Forged: an id the origin serves as another activity (olive's, not "olive2"'s).
    let olive2 = origin.add_person("olive2").await;
    let other_id = origin.url("/activities/follow/3");
    origin.serve_json(
        "/activities/follow/3",
        json!({"id": other_id, "type": "Like", "actor": olive,
            "object": origin.url("/post/1")}),
    );
    let forged = json!({"id": other_id, "type": "Follow", "actor": olive2, "object": community});
    let as_olive2 = Raw {
        actor: olive2.clone(),
        signer: fred.signer.clone(),
    };
    assert_eq!(
        post(&s.base, &as_olive2, &forged.to_string(), |h| h)
            .await
            .0,
        202
    );
    assert_eq!(
        journal_end(&t, &other_id).await,
        "ignored ForwardUnverified"
    );
    // Nobody but olive follows: neither forgery was applied.
    assert_eq!(
        column(
            &t,
            "SELECT p.ap_id AS v FROM community_follow f JOIN person p ON p.id = f.person_id"
        )
        .await,
        [olive.as_str()]
    );
    // The journal says who forwarded each.
    assert_eq!(
        column(
            &t,
            "SELECT coalesce(signer, '-') AS v FROM received_activity ORDER BY id"
        )
        .await,
        [
            "-",
            fred.actor.as_str(),
            fred.actor.as_str(),
            fred.actor.as_str()
        ]
    );
}
