//! Every refusal answers its documented status and rc, and leaves nothing in the journal.

use crate::support::{Peer, like, with_alice};
use serde_json::json;
use sluice_apub::signature::Signer;
use std::time::{Duration, SystemTime};

fn status_of(rc: &str) -> u16 {
    sluice_apub::Rc::ALL
        .iter()
        .find(|r| r.code() == rc)
        .and_then(|r| r.status())
        .unwrap_or_else(|| panic!("{rc} is not an rc with a status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_delivery_gets_its_documented_status_and_rc_and_is_not_journaled() {
    let (h, peer, alice) = with_alice(|c| c.max_body_bytes = 64 * 1024).await;
    let other = Peer::start().await;
    let mallory = other.actor("/u/mallory");
    let path = "/inbox";
    let mut cases: Vec<(&str, crate::support::Answer, &str)> = Vec::new();

    // Tampered body: signed for one body, another sent.
    let body = like(&peer, &alice);
    let hdrs = h.signed_headers(&alice.signer, path, body.as_bytes(), SystemTime::now());
    let tampered = body.replace("Like", "Dislike");
    cases.push((
        "tampered body",
        h.post_raw(path, tampered.into_bytes(), &hdrs).await,
        "DigestMismatch",
    ));

    // Wrong key: signed with a key that is not alice's published one.
    let kp = sluice_apub::keys::generate().unwrap();
    let impostor = Signer::from_pem(&alice.key_id, &kp.private_pem).unwrap();
    let body = like(&peer, &alice);
    let hdrs = h.signed_headers(&impostor, path, body.as_bytes(), SystemTime::now());
    cases.push((
        "wrong key",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "SignatureInvalid",
    ));

    // Stale date: signed two hours ago.
    let body = like(&peer, &alice);
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    let hdrs = h.signed_headers(&alice.signer, path, body.as_bytes(), old);
    cases.push((
        "stale date",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "SignatureExpired",
    ));

    // Missing digest.
    let body = like(&peer, &alice);
    let hdrs: Vec<_> = h
        .signed_headers(&alice.signer, path, body.as_bytes(), SystemTime::now())
        .into_iter()
        .filter(|(k, _)| *k != "Digest")
        .collect();
    cases.push((
        "missing digest",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "DigestMissing",
    ));

    // Not signed at all.
    let body = like(&peer, &alice);
    let hdrs = vec![("Content-Type", "application/activity+json".to_string())];
    cases.push((
        "unsigned",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "SignatureMissing",
    ));

    // Unknown key owner: the peer does not serve this actor (404).
    let ghost = peer.actor("/u/ghost");
    let ghost_body = like(&peer, &ghost);
    let ghost_key = Signer::from_pem(
        &format!("{}/u/nobody#main-key", peer.base),
        &sluice_apub::keys::generate().unwrap().private_pem,
    )
    .unwrap();
    let hdrs = h.signed_headers(&ghost_key, path, ghost_body.as_bytes(), SystemTime::now());
    cases.push((
        "unknown key owner",
        h.post_raw(path, ghost_body.into_bytes(), &hdrs).await,
        "KeyUnknown",
    ));

    // Signed by another host than the actor's.
    let body = like(&peer, &alice);
    let hdrs = h.signed_headers(&mallory.signer, path, body.as_bytes(), SystemTime::now());
    cases.push((
        "signer on another host",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "SignerNotActor",
    ));

    // The activity id on another host than the actor.
    let body = json!({"id": other.activity_id("like"), "type": "Like", "actor": alice.id,
        "object": format!("{}/post/1", peer.base)})
    .to_string();
    let hdrs = h.signed_headers(&alice.signer, path, body.as_bytes(), SystemTime::now());
    cases.push((
        "id on another host",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "IdHostMismatch",
    ));

    // Oversized body (limit 64 KiB here), signed correctly.
    let mut v: serde_json::Value = serde_json::from_str(&like(&peer, &alice)).unwrap();
    v["content"] = "x".repeat(70 * 1024).into();
    let body = v.to_string();
    let hdrs = h.signed_headers(&alice.signer, path, body.as_bytes(), SystemTime::now());
    cases.push((
        "oversized",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "PayloadTooLarge",
    ));

    // Malformed JSON, signed correctly.
    let body = b"{\"id\": \"x\", ".to_vec();
    let hdrs = h.signed_headers(&alice.signer, path, &body, SystemTime::now());
    cases.push((
        "malformed JSON",
        h.post_raw(path, body, &hdrs).await,
        "JsonMalformed",
    ));

    // Too deep.
    let body = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100)).into_bytes();
    let hdrs = h.signed_headers(&alice.signer, path, &body, SystemTime::now());
    cases.push((
        "too deep",
        h.post_raw(path, body, &hdrs).await,
        "JsonTooDeep",
    ));

    // JSON, but not an activity.
    let body = br#"{"hello": "world"}"#.to_vec();
    let hdrs = h.signed_headers(&alice.signer, path, &body, SystemTime::now());
    cases.push((
        "not an activity",
        h.post_raw(path, body, &hdrs).await,
        "NotAnActivity",
    ));

    // Wrong media type.
    let body = like(&peer, &alice);
    let mut hdrs = h.signed_headers(&alice.signer, path, body.as_bytes(), SystemTime::now());
    hdrs[0].1 = "text/plain".into();
    cases.push((
        "media type",
        h.post_raw(path, body.into_bytes(), &hdrs).await,
        "UnsupportedMediaType",
    ));

    // An inbox that does not exist.
    let body = like(&peer, &alice);
    let hdrs = h.signed_headers(
        &alice.signer,
        "/c/nope/inbox",
        body.as_bytes(),
        SystemTime::now(),
    );
    cases.push((
        "unknown inbox",
        h.post_raw("/c/nope/inbox", body.into_bytes(), &hdrs).await,
        "NotFound",
    ));

    // Blocked instance.
    sluice_db::instances::set_policy(
        &h.t.db,
        &peer.host,
        sluice_db::instances::Policy::Block,
        None,
    )
    .await
    .unwrap();
    h.inbox.refresh_now().await.unwrap();
    let body = like(&peer, &alice);
    cases.push((
        "blocked instance",
        h.deliver(&alice, path, &body).await,
        "InstanceBlocked",
    ));

    for (what, answer, rc) in &cases {
        assert_eq!(answer.rc(), *rc, "{what}: {}", answer.body);
        assert_eq!(answer.status, status_of(rc), "{what}: {}", answer.body);
        assert!(
            answer.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}"
        );
    }
    assert!(
        h.journal().await.is_empty(),
        "refused activities were journaled"
    );

    // GET on an inbox is not a collection fetch: 405 with an rc.
    let r = h
        .client
        .get(format!("{}/inbox", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["rc"], "MethodNotAllowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_senders_use_are_all_accepted() {
    let (h, peer, alice) = with_alice(|_| {}).await;
    for ct in [
        "application/activity+json",
        r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#,
        "application/json",
        "Application/Activity+JSON; charset=utf-8",
    ] {
        let body = like(&peer, &alice);
        let mut hdrs =
            h.signed_headers(&alice.signer, "/inbox", body.as_bytes(), SystemTime::now());
        hdrs[0].1 = ct.to_string();
        let a = h.post_raw("/inbox", body.into_bytes(), &hdrs).await;
        assert_eq!(a.status, 202, "{ct}: {}", a.body);
    }
    assert_eq!(h.journal().await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_cover_the_configured_domain_not_the_socket_address() {
    // As behind a reverse proxy: senders address sluice.example, we listen on 127.0.0.1.
    let (h, peer, alice) = with_alice(|c| c.domain = "sluice.example".into()).await;
    let sign_for = |host_url: &str, body: &str| {
        let url = url::Url::parse(host_url).unwrap();
        let s = alice
            .signer
            .sign("POST", &url, Some(body.as_bytes()), SystemTime::now());
        vec![
            ("Content-Type", "application/activity+json".to_string()),
            ("Date", s.date),
            ("Digest", s.digest.unwrap()),
            ("Signature", s.signature),
        ]
    };
    let body = like(&peer, &alice);
    let hdrs = sign_for("https://sluice.example/inbox", &body);
    let a = h.post_raw("/inbox", body.into_bytes(), &hdrs).await;
    assert_eq!(a.status, 202, "{}", a.body);

    // Signed for the socket address instead: not what a sender of ours would sign.
    let body = like(&peer, &alice);
    let hdrs = sign_for(&format!("{}/inbox", h.base), &body);
    let a = h.post_raw("/inbox", body.into_bytes(), &hdrs).await;
    assert_eq!((a.status, a.rc()), (401, "SignatureInvalid"), "{}", a.body);
    assert_eq!(h.journal().await.len(), 1);
}
