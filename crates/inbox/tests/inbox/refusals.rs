//! Every refusal answers its documented status and rc, and leaves nothing in the journal.

use crate::support::{Answer, activity_id, like, raw_actor, with_alice};
use futures::StreamExt;
use serde_json::json;
use sluice_testkit::peer::{Behaviour, Tamper, TestPeer};
use std::time::{Duration, SystemTime};

fn status_of(rc: &str) -> u16 {
    sluice_apub::Rc::ALL
        .iter()
        .find(|r| r.code() == rc)
        .and_then(|r| r.status())
        .unwrap_or_else(|| panic!("{rc} is not an rc with a status"))
}

fn check(cases: &[(&str, Answer, &str)]) {
    for (what, answer, rc) in cases {
        assert_eq!(answer.rc(), *rc, "{what}: {}", answer.body);
        assert_eq!(answer.status, status_of(rc), "{what}: {}", answer.body);
        assert!(
            answer.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoiled_deliveries_from_a_lemmy_like_peer_are_refused_and_not_journaled() {
    let (h, peer, alice) = with_alice(|c| c.max_body_bytes = 64 * 1024).await;
    let other = TestPeer::start_on("127.0.0.2").await;
    let mallory = other.add_person("mallory").await;
    let ghost = peer.add_person("ghost").await;
    peer.set_route_behaviour(
        "/u/ghost",
        Behaviour {
            status: Some(404),
            delay: None,
        },
    );
    let spoiled = |t: Tamper| {
        let (h, peer, alice) = (&h, &peer, alice.clone());
        async move { h.receive_with(peer, &alice, &like(peer, &alice), t).await }
    };
    let mut cases = vec![
        (
            "tampered body",
            spoiled(Tamper::BodyChangedAfterSigning).await,
            "DigestMismatch",
        ),
        (
            "wrong key",
            spoiled(Tamper::SignedWithWrongKey).await,
            "SignatureInvalid",
        ),
        (
            "stale date",
            spoiled(Tamper::StaleDate).await,
            "SignatureExpired",
        ),
        (
            "missing digest",
            spoiled(Tamper::NoDigestHeader).await,
            "DigestMissing",
        ),
        (
            "oversized body",
            spoiled(Tamper::OversizedBody(70 * 1024)).await,
            "PayloadTooLarge",
        ),
        // The key's owner cannot be found: its document is 404.
        (
            "unknown key owner",
            h.receive(&peer, &ghost, &like(&peer, &ghost)).await,
            "KeyUnknown",
        ),
        // Signed on another host than the actor's: a forward, by a signer whose key is not
        // known here (never fetched for a forward).
        (
            "signer on another host",
            h.receive(&other, &mallory, &like(&peer, &alice)).await,
            "KeyUnknown",
        ),
    ];
    // The activity id on another host than its actor.
    let foreign_id = json!({"id": activity_id(&other, "like"), "type": "Like", "actor": alice,
        "object": peer.url("/post/1")});
    cases.push((
        "id on another host",
        h.receive(&peer, &alice, &foreign_id).await,
        "IdHostMismatch",
    ));
    // Blocked instance.
    sluice_db::instances::set_policy(
        &h.t.db,
        &sluice_trust::host::InstanceHost::parse(peer.domain()).unwrap(),
        sluice_db::instances::Policy::Block,
        None,
    )
    .await
    .unwrap();
    h.inbox.refresh_now().await.unwrap();
    cases.push((
        "blocked instance",
        h.receive(&peer, &alice, &like(&peer, &alice)).await,
        "InstanceBlocked",
    ));

    check(&cases);
    assert!(
        h.journal().await.is_empty(),
        "refused activities were journaled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_no_library_would_send_are_refused_and_not_journaled() {
    let (h, peer, _) = with_alice(|_| {}).await;
    let raw = raw_actor(&peer, "raw");
    let signed = |body: &[u8]| h.signed_headers(&raw.signer, "/inbox", body, SystemTime::now());
    let mut cases = Vec::new();

    let body = b"{\"id\": \"x\", ".to_vec();
    cases.push((
        "malformed JSON",
        h.post_raw("/inbox", body.clone(), &signed(&body)).await,
        "JsonMalformed",
    ));
    let body = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100)).into_bytes();
    cases.push((
        "too deep",
        h.post_raw("/inbox", body.clone(), &signed(&body)).await,
        "JsonTooDeep",
    ));
    let body = br#"{"hello": "world"}"#.to_vec();
    cases.push((
        "not an activity",
        h.post_raw("/inbox", body.clone(), &signed(&body)).await,
        "NotAnActivity",
    ));
    let body = format!(
        r#"{{"id":"{}","type":"Note","actor":"{}","content":"a\u0000b"}}"#,
        activity_id(&peer, "x"),
        raw.id
    )
    .into_bytes();
    cases.push((
        "NUL escape",
        h.post_raw("/inbox", body.clone(), &signed(&body)).await,
        "JsonMalformed",
    ));

    let body = like(&peer, &raw.id).to_string().into_bytes();
    let mut hdrs = signed(&body);
    hdrs[0].1 = "text/plain".into();
    cases.push((
        "media type",
        h.post_raw("/inbox", body, &hdrs).await,
        "UnsupportedMediaType",
    ));

    let body = like(&peer, &raw.id).to_string().into_bytes();
    let hdrs = vec![("Content-Type", "application/activity+json".to_string())];
    cases.push((
        "unsigned",
        h.post_raw("/inbox", body, &hdrs).await,
        "SignatureMissing",
    ));

    let body = like(&peer, &raw.id).to_string().into_bytes();
    cases.push((
        "unknown inbox",
        h.deliver_raw(&raw, "/c/nope/inbox", &body).await,
        "NotFound",
    ));

    check(&cases);
    assert!(
        h.journal().await.is_empty(),
        "refused activities were journaled"
    );

    // GET on an inbox is not a collection fetch: 405 with an rc.
    let r = h.client.get(h.url("/inbox")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["rc"], "MethodNotAllowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_senders_use_are_all_accepted() {
    let (h, peer, _) = with_alice(|_| {}).await;
    let raw = raw_actor(&peer, "raw");
    for ct in [
        "application/activity+json",
        r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#,
        "application/json",
        "Application/Activity+JSON; charset=utf-8",
    ] {
        let body = like(&peer, &raw.id).to_string().into_bytes();
        let mut hdrs = h.signed_headers(&raw.signer, "/inbox", &body, SystemTime::now());
        hdrs[0].1 = ct.to_string();
        let a = h.post_raw("/inbox", body, &hdrs).await;
        assert_eq!(a.status, 202, "{ct}: {}", a.body);
    }
    assert_eq!(h.journal().await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_cover_the_configured_domain_not_the_socket_address() {
    // As behind a reverse proxy: senders address sluice.example, we listen on 127.0.0.1.
    let (h, peer, _) = with_alice(|c| c.domain = "sluice.example".into()).await;
    let raw = raw_actor(&peer, "raw");
    let sign_for = |host_url: &str, body: &[u8]| {
        let url = url::Url::parse(host_url).unwrap();
        let s = raw.signer.sign("POST", &url, Some(body), SystemTime::now());
        vec![
            ("Content-Type", "application/activity+json".to_string()),
            ("Date", s.date),
            ("Digest", s.digest.unwrap()),
            ("Signature", s.signature),
        ]
    };
    let body = like(&peer, &raw.id).to_string().into_bytes();
    let hdrs = sign_for("https://sluice.example/inbox", &body);
    let a = h.post_raw("/inbox", body, &hdrs).await;
    assert_eq!(a.status, 202, "{}", a.body);

    // Signed for the socket address instead: not what a sender of ours would sign.
    let body = like(&peer, &raw.id).to_string().into_bytes();
    let hdrs = sign_for(&h.url("/inbox"), &body);
    let a = h.post_raw("/inbox", body, &hdrs).await;
    assert_eq!((a.status, a.rc()), (401, "SignatureInvalid"), "{}", a.body);
    assert_eq!(h.journal().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_too_slowly_gets_408() {
    let (h, peer, _) = with_alice(|c| c.read_timeout = Duration::from_millis(300)).await;
    let raw = raw_actor(&peer, "raw");
    let body = like(&peer, &raw.id).to_string().into_bytes();
    let hdrs = h.signed_headers(&raw.signer, "/inbox", &body, SystemTime::now());
    // Half the body now, the rest after the read timeout.
    let (first, rest) = body.split_at(body.len() / 2);
    let (first, rest) = (
        bytes::Bytes::from(first.to_vec()),
        bytes::Bytes::from(rest.to_vec()),
    );
    let chunks =
        futures::stream::iter([Ok::<_, std::io::Error>(first), Ok(rest)]).then(|c| async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            c
        });
    let mut req = h
        .client
        .post(h.url("/inbox"))
        .header("Content-Length", body.len())
        .body(reqwest::Body::wrap_stream(chunks));
    for (k, v) in &hdrs {
        req = req.header(*k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 408);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["rc"], "RequestTimeout");
    assert!(h.journal().await.is_empty());
}

/// The refusal tally keeps at most its bound of hosts by name (the rest under `(other)`),
/// and a flush adds its counts to the database in one statement, summing with what other
/// processes (or earlier flushes) wrote for the same hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_by_instance_are_bounded_in_memory_and_flushed_per_host_and_rc() {
    use sluice_apub::Rc;
    use sluice_db::refusals::Counted;
    use sluice_inbox::refusals::{OTHER, RefusalTally};
    let t = sluice_testkit::test_db().await;
    let tally = RefusalTally::new(2);
    tally.add("a.example", Rc::SignatureInvalid, 1);
    tally.add("a.example", Rc::SignatureInvalid, 1);
    tally.add("a.example", Rc::InstanceBlocked, 1);
    tally.add("b.example", Rc::SignatureInvalid, 1);
    tally.add("c.example", Rc::SignatureInvalid, 1);
    tally.add(&"x".repeat(300), Rc::SignatureInvalid, 1);
    tally.add("b.example", Rc::SignatureInvalid, 1);
    assert_eq!(tally.hosts(), 2, "the bound holds");
    tally.flush(&t.db).await.unwrap();
    assert!(tally.take().is_empty(), "a flush empties the tally");
    // A second process (or the next minute) adds to the same hour's rows.
    let other = RefusalTally::new(10);
    other.add("a.example", Rc::SignatureInvalid, 3);
    other.flush(&t.db).await.unwrap();
    let mut got = sluice_db::refusals::recent(&t.db, 100).await.unwrap();
    got.sort_by(|x, y| (&x.domain, &x.rc).cmp(&(&y.domain, &y.rc)));
    let row = |d: &str, rc: Rc, n: i64| Counted {
        domain: d.into(),
        rc: rc.code().into(),
        count: n,
    };
    assert_eq!(
        got,
        vec![
            row(OTHER, Rc::SignatureInvalid, 2),
            row("a.example", Rc::InstanceBlocked, 1),
            row("a.example", Rc::SignatureInvalid, 5),
            row("b.example", Rc::SignatureInvalid, 2),
        ]
    );
}

/// A refusal after the envelope names its actor is counted for the actor's instance; one
/// before (the body is not JSON) names nobody and is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_signature_is_counted_for_the_actors_instance() {
    let (h, peer, alice) = with_alice(|_| {}).await;
    let d = peer
        .deliver_with(
            &h.url("/inbox"),
            "alice",
            &like(&peer, &alice),
            Tamper::SignedWithWrongKey,
        )
        .await
        .unwrap();
    assert!((400..500).contains(&d.status), "{}", d.text);
    let a = h
        .post_raw(
            "/inbox",
            b"not json".to_vec(),
            &[("content-type", "application/activity+json".into())],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let counted = h.inbox.refusal_tally().take();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!(counted[0].domain, peer.domain());
    assert_eq!(counted[0].rc, d.json().unwrap()["rc"].as_str().unwrap());
    assert_eq!(counted[0].count, 1);
}
