//! The test peer against itself: peer A signs (activitypub_federation), peer B verifies
//! (activitypub_federation, fetching A's actor over HTTP). If these pass, the plumbing other
//! tests rely on to judge sluice is sound.

use serde_json::{Value, json};
use sluice_testkit::peer::{Behaviour, Reply, Tamper, TestPeer};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Peer A (127.0.0.1) with a person `alice`, peer B on another host (127.0.0.2).
async fn two_peers() -> (TestPeer, TestPeer) {
    let a = TestPeer::start().await;
    let b = TestPeer::start_on("127.0.0.2").await;
    a.add_person("alice").await;
    (a, b)
}

fn like(peer: &TestPeer, actor: &str, n: u32) -> Value {
    json!({
        "@context": ["https://join-lemmy.org/context.json", "https://www.w3.org/ns/activitystreams"],
        "id": peer.url(&format!("/activities/like/{n}")),
        "type": "Like",
        "actor": actor,
        "object": "http://127.0.0.2:1/post/1",
        "audience": "http://127.0.0.2:1/c/main",
    })
}

async fn get(url: &str) -> reqwest::Response {
    sluice_testkit::http_client()
        .get(url)
        .header("Accept", "application/activity+json")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_delivery_verifies_through_activitypub_federation() {
    let (a, b) = two_peers().await;
    let alice = a.actor_id("alice");
    let activity = like(&a, &alice, 1);

    let answer = a
        .deliver(&b.shared_inbox(), "alice", &activity)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);

    let got = b.wait_received(1, WAIT).await.unwrap();
    let r = &got[0];
    assert!(r.verified, "{:?}", r.verify_error);
    assert!(r.is_authentic());
    assert_eq!(r.signer.as_deref(), Some(alice.as_str()));
    assert_eq!(r.actor.as_deref(), Some(alice.as_str()));
    assert_eq!(r.activity_id, activity["id"].as_str().map(str::to_string));
    assert_eq!(r.activity_type.as_deref(), Some("Like"));
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/inbox"));
    assert_eq!(r.json.as_ref(), Some(&activity));
    assert_eq!(r.status, 200);

    // On the wire as Lemmy sends it.
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/activity+json");
    assert!(header("digest").starts_with("SHA-256="));
    let sig = header("signature");
    assert!(
        sig.contains(&format!("keyId=\"{alice}#main-key\"")),
        "{sig}"
    );
    assert!(
        sig.contains("headers=\"(request-target) content-type date digest host\""),
        "{sig}"
    );

    // B fetched alice's document over HTTP, once, and verifies from its cache afterwards.
    assert_eq!(a.fetch_count("/u/alice"), 1);
    let answer = a
        .deliver(&b.inbox_of(b.domain()), "alice", &like(&a, &alice, 2))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(a.fetch_count("/u/alice"), 1);

    // Groups and the instance actor sign too, and personal inboxes receive.
    let main = a.add_group("main").await;
    b.add_person("bob").await;
    let answer = a
        .deliver(&b.inbox_of("bob"), "main", &like(&a, &main, 3))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let instance = a.instance_actor();
    let answer = a
        .deliver(&b.shared_inbox(), &instance, &like(&a, &instance, 4))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let got = b.wait_received(4, WAIT).await.unwrap();
    assert_eq!(got[2].path, "/u/bob/inbox");
    assert!(got.iter().all(|r| r.is_authentic()));
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tamper_is_rejected_by_the_verifier() {
    let (a, b) = two_peers().await;
    let alice = a.actor_id("alice");
    let cases = [
        (Tamper::BodyChangedAfterSigning, "digest"),
        (Tamper::SignedWithWrongKey, "signature"),
        (Tamper::NoDigestHeader, "digest"),
        (Tamper::StaleDate, "expired"),
        (Tamper::DateAgo(Duration::from_secs(2 * 3600)), "expired"),
    ];
    for (n, (tamper, why)) in cases.into_iter().enumerate() {
        b.clear_received();
        let answer = a
            .deliver_with(
                &b.shared_inbox(),
                "alice",
                &like(&a, &alice, n as u32),
                tamper.clone(),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{tamper:?}: {}", answer.text);
        let r = &b.wait_received(1, WAIT).await.unwrap()[0];
        assert!(!r.verified, "{tamper:?} verified");
        let err = r.verify_error.clone().unwrap_or_default().to_lowercase();
        assert!(err.contains(why), "{tamper:?}: {err}");
    }

    // The control: untampered, and oversized (which only sends a big, valid body).
    b.clear_received();
    let answer = a
        .deliver_with(
            &b.shared_inbox(),
            "alice",
            &like(&a, &alice, 10),
            Tamper::None,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answer = a
        .deliver_with(
            &b.shared_inbox(),
            "alice",
            &like(&a, &alice, 11),
            Tamper::OversizedBody(300_000),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let got = b.wait_received(2, WAIT).await.unwrap();
    assert!(got[1].verified, "{:?}", got[1].verify_error);
    assert!(got[1].body.len() >= 300_000);
    assert_eq!(got[1].activity_type.as_deref(), Some("Like"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_other_than_the_actor_is_not_authentic() {
    let (a, b) = two_peers().await;
    let mallory = a.add_person("mallory").await;
    let alice = a.actor_id("alice");
    let answer = a
        .deliver(&b.shared_inbox(), "mallory", &like(&a, &alice, 1))
        .await
        .unwrap();
    assert_eq!(answer.status, 400, "{}", answer.text);
    let r = &b.wait_received(1, WAIT).await.unwrap()[0];
    assert!(r.verified, "the signature itself is mallory's and valid");
    assert_eq!(r.signer.as_deref(), Some(mallory.as_str()));
    assert!(!r.is_authentic());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_inbox_replies() {
    let (a, b) = two_peers().await;
    let alice = a.actor_id("alice");
    b.inbox_reply(Reply::Status(202));
    b.inbox_reply_next(2, Reply::Status(500));
    b.inbox_reply_next(
        1,
        Reply::TooManyRequests {
            retry_after: "7".into(),
        },
    );
    b.inbox_delay(Some(Duration::from_millis(200)));
    let mut statuses = Vec::new();
    for n in 0..5 {
        let answer = a
            .deliver(&b.shared_inbox(), "alice", &like(&a, &alice, n))
            .await
            .unwrap();
        if answer.status == 429 {
            assert_eq!(answer.headers["retry-after"], "7");
        }
        statuses.push(answer.status);
    }
    assert_eq!(statuses, vec![500, 500, 429, 202, 202]);
    b.inbox_delay(None);
    b.inbox_reply(Reply::Status(400));
    let answer = a
        .deliver(&b.shared_inbox(), "alice", &like(&a, &alice, 9))
        .await
        .unwrap();
    assert_eq!(answer.status, 400);

    let got = b.wait_received(6, WAIT).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![500, 500, 429, 202, 202, 400]
    );
    // Verification is recorded whatever the scripted answer.
    assert!(got.iter().all(|r| r.is_authentic()));
    let ids: Vec<_> = got.iter().filter_map(|r| r.activity_id.clone()).collect();
    let expected: Vec<_> = [0, 1, 2, 3, 4, 9]
        .iter()
        .map(|n| a.url(&format!("/activities/like/{n}")))
        .collect();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_inbox_and_a_stopped_peer() {
    let (a, b) = two_peers().await;
    let alice = a.actor_id("alice");
    b.inbox_reply(Reply::Hang);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = impatient
        .post(b.shared_inbox())
        .body(like(&a, &alice, 1).to_string())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let r = &b.wait_received(1, WAIT).await.unwrap()[0];
    assert_eq!(r.status, 0);
    assert!(!r.verified, "no signature was sent");

    b.stop().await;
    let err = sluice_testkit::http_client()
        .get(b.base())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    let err = a
        .deliver(&b.shared_inbox(), "alice", &like(&a, &alice, 2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, sluice_testkit::peer::PeerError::Http(_)),
        "{err}"
    );

    b.restart().await;
    b.inbox_reply(Reply::Lemmy);
    assert_eq!(get(&b.instance_actor()).await.status(), 200);
    let answer = a
        .deliver(&b.shared_inbox(), "alice", &like(&a, &alice, 3))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_actor_answers_410_and_its_signatures_cannot_be_checked() {
    let (a, b) = two_peers().await;
    let carol = a.add_person("carol").await;
    a.gone("carol");
    let res = get(&carol).await;
    assert_eq!(res.status(), 410);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["type"], "Tombstone");
    assert_eq!(doc["id"], carol.as_str());

    let delete = json!({
        "id": a.url("/activities/delete/1"),
        "type": "Delete",
        "actor": carol,
        "object": carol,
    });
    let answer = a
        .deliver(&b.shared_inbox(), "carol", &delete)
        .await
        .unwrap();
    assert_eq!(answer.status, 400);
    let r = &b.wait_received(1, WAIT).await.unwrap()[0];
    assert!(!r.verified);
    assert!(
        r.verify_error
            .clone()
            .unwrap_or_default()
            .contains("deleted"),
        "{:?}",
        r.verify_error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_changes_the_served_key_and_verifiers_catch_up() {
    let (a, b) = two_peers().await;
    let alice = a.actor_id("alice");
    let before = a.public_key_pem("alice");
    let doc: Value = get(&alice).await.json().await.unwrap();
    assert_eq!(doc["publicKey"]["publicKeyPem"], before.as_str());

    // B caches alice's old key...
    let answer = a
        .deliver(&b.shared_inbox(), "alice", &like(&a, &alice, 1))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);

    a.rotate_key("alice").await;
    let after = a.public_key_pem("alice");
    assert_ne!(before, after);
    let doc: Value = get(&alice).await.json().await.unwrap();
    assert_eq!(doc["publicKey"]["publicKeyPem"], after.as_str());

    // ...and refetches it when a signature with the new key fails against the cached one.
    let answer = a
        .deliver(&b.shared_inbox(), "alice", &like(&a, &alice, 2))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(a.fetch_count("/u/alice"), 4, "two by B, two by this test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_discovery_and_route_behaviour() {
    let a = TestPeer::start().await;
    let alice = a.add_person("alice").await;
    let main = a.add_group("main").await;

    let person: Value = get(&alice).await.json().await.unwrap();
    assert_eq!(person["type"], "Person");
    assert_eq!(person["inbox"], format!("{alice}/inbox"));
    assert_eq!(person["endpoints"]["sharedInbox"], a.shared_inbox());
    assert_eq!(person["publicKey"]["id"], a.key_id("alice"));
    assert_eq!(person["publicKey"]["owner"], alice.as_str());
    let group: Value = get(&main).await.json().await.unwrap();
    assert_eq!(group["type"], "Group");
    assert_eq!(group["followers"], format!("{main}/followers"));
    let followers = get(&format!("{main}/followers")).await;
    assert_eq!(followers.status(), 200);
    let instance: Value = get(&a.instance_actor()).await.json().await.unwrap();
    assert_eq!(instance["type"], "Application");
    assert_eq!(instance["id"], a.instance_actor());
    assert_eq!(get(&a.url("/u/nobody")).await.status(), 404);

    let finger: Value = get(&a.url(&format!(
        "/.well-known/webfinger?resource=acct:main@{}",
        a.domain()
    )))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(finger["links"][1]["href"], main.as_str());

    let post = json!({ "id": a.url("/post/1"), "type": "Page", "name": "hello" });
    let url = a.serve_json("/post/1", post.clone());
    let res = get(&url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/activity+json");
    assert_eq!(res.json::<Value>().await.unwrap(), post);
    a.set_route_behaviour(
        "/post/1",
        Behaviour {
            status: Some(503),
            delay: Some(Duration::from_millis(50)),
        },
    );
    assert_eq!(get(&url).await.status(), 503);
    a.clear_route_behaviour("/post/1");
    assert_eq!(get(&url).await.status(), 200);
    assert_eq!(a.fetch_count("/post/1"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_recorded_not_fatal() {
    let b = TestPeer::start().await;
    let client = sluice_testkit::http_client();
    let res = client
        .post(b.url("/u/nobody/inbox"))
        .body("not json at all")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = client
        .post(b.shared_inbox())
        .header("Signature", "keyId=\"oops")
        .header("Digest", "SHA-256=nonsense")
        .body("{\"id\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let got = b.wait_received(2, WAIT).await.unwrap();
    assert_eq!(got[0].path, "/u/nobody/inbox");
    assert!(got[0].json.is_none() && !got[0].verified);
    assert_eq!(got[1].json, Some(json!({"id": 5})));
    assert_eq!(got[1].activity_id, None);
    // Still serving.
    assert_eq!(get(&b.instance_actor()).await.status(), 200);
}
