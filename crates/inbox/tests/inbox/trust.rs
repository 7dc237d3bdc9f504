//! Who may sign for an activity, and what a forged signature can cost: the key's owner is
//! the actor (confirmed from the actor's own document), keyIds name the actor's document,
//! keyIds on our domain resolve to local keys only, key fetches are budgeted and their
//! failures remembered; the 410 Gone Delete is journaled under an id sluice derives; the
//! per-instance acceptance rate; numbers beyond f64; hostile signature times.

use crate::support::{Harness, RawActor, activity_id, like, raw_actor, with_alice};
use serde_json::json;
use sluice_apub::signature::Signer;
use sluice_db::diesel;
use sluice_db::diesel_async::RunQueryDsl;
use sluice_db::instances::{self, Policy};
use sluice_testkit::peer::{Behaviour, TestPeer};
use std::time::SystemTime;

/// Signatures for `actor` (any id) under `key_id`, made with a key nobody published.
/// One key for every forgery, generated once: the requests of a test leave in a quick
/// burst, well inside the budgets' refill time.
fn forger(actor: &str, key_id: &str) -> RawActor {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let pem = PEM.get_or_init(|| sluice_apub::keypair::generate().unwrap().private_pem);
    RawActor {
        id: actor.to_string(),
        key_id: key_id.to_string(),
        signer: Signer::from_pem(key_id, pem).unwrap(),
    }
}

/// `actor`'s signatures, made with `key`'s private key and keyId.
fn signing_as(actor: &str, key: &RawActor) -> RawActor {
    RawActor {
        id: actor.to_string(),
        key_id: key.key_id.clone(),
        signer: key.signer.clone(),
    }
}

async fn remote_keys(h: &Harness) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        key_id: String,
    }
    let rows: Vec<Row> =
        h.t.db
            .run("test_remote_keys", |c| {
                Box::pin(sluice_db::sql("SELECT key_id FROM remote_key ORDER BY key_id").load(c))
            })
            .await
            .unwrap();
    rows.into_iter().map(|r| r.key_id).collect()
}

/// The journaled `raw` of `id`, as PostgreSQL gives it back.
async fn raw_text(h: &Harness, id: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        raw: String,
    }
    let id = id.to_string();
    let row: Row =
        h.t.db
            .run("test_raw", move |c| {
                Box::pin(
                    sluice_db::sql(
                        "SELECT raw::text AS raw FROM received_activity WHERE activity_id = $1",
                    )
                    .bind::<diesel::sql_types::Text, _>(id)
                    .get_result(c),
                )
            })
            .await
            .unwrap();
    row.raw
}

async fn raw_of(h: &Harness, id: &str) -> serde_json::Value {
    serde_json::from_str(&raw_text(h, id).await).unwrap()
}

/// The `signer` column of the journal row of `id`.
async fn signer_of(h: &Harness, id: &str) -> Option<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        signer: Option<String>,
    }
    let id = id.to_string();
    let row: Row =
        h.t.db
            .run("test_signer", move |c| {
                Box::pin(
                    sluice_db::sql("SELECT signer FROM received_activity WHERE activity_id = $1")
                        .bind::<diesel::sql_types::Text, _>(id)
                        .get_result(c),
                )
            })
            .await
            .unwrap();
    row.signer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_that_is_not_the_actor_is_only_a_forwarder_whose_key_is_known() {
    let (h, peer, _) = with_alice(|_| {}).await;
    let bob = peer.add_person("bob").await;
    let mallory = raw_actor(&peer, "mallory");
    // bob's activity, signed with mallory's real, published key, before mallory ever signed
    // for herself: a forward by an unknown signer, whose key is not fetched for it.
    let body = like(&peer, &bob).to_string();
    let a = h
        .deliver_raw(&signing_as(&bob, &mallory), "/inbox", body.as_bytes())
        .await;
    assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);
    assert_eq!(
        peer.fetch_count("/u/mallory"),
        0,
        "refused before any fetch"
    );
    assert_eq!(peer.fetch_count("/u/bob"), 0);
    assert!(h.journal().await.is_empty());
    // mallory's own activity is fine, and teaches us her key.
    let own = like(&peer, &mallory.id);
    assert_eq!(
        h.deliver_raw(&mallory, "/inbox", own.to_string().as_bytes())
            .await
            .status,
        202
    );
    assert_eq!(signer_of(&h, own["id"].as_str().unwrap()).await, None);
    // Now her forward of bob's activity is journaled as a forward (the pipeline applies only
    // what bob's origin serves at its id), still without a GET of bob or a second of hers.
    let fwd = like(&peer, &bob);
    let a = h
        .deliver_raw(
            &signing_as(&bob, &mallory),
            "/inbox",
            fwd.to_string().as_bytes(),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(
        signer_of(&h, fwd["id"].as_str().unwrap()).await.as_deref(),
        Some(mallory.id.as_str())
    );
    assert_eq!(
        (peer.fetch_count("/u/mallory"), peer.fetch_count("/u/bob")),
        (1, 0)
    );
    // A forward with a bad signature is no forward.
    let a = h
        .deliver_raw(
            &signing_as(&bob, &forger(&mallory.id, &mallory.key_id)),
            "/inbox",
            like(&peer, &bob).to_string().as_bytes(),
        )
        .await;
    assert_eq!((a.status, a.rc()), (401, "SignatureInvalid"), "{}", a.body);
    // Nobody forwards our own actors' activities to us.
    let ours = json!({"id": h.url("/activities/like/1"), "type": "Like",
        "actor": h.url("/u/alice"), "object": peer.url("/post/1")});
    let a = h
        .deliver_raw(
            &signing_as(&h.url("/u/alice"), &mallory),
            "/inbox",
            ours.to_string().as_bytes(),
        )
        .await;
    assert_eq!((a.status, a.rc()), (401, "SignerNotActor"), "{}", a.body);
    assert_eq!(h.journal().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_ids_other_than_the_actors_document_are_refused_without_a_fetch() {
    let h = Harness::start(|_| {}).await;
    let victim = TestPeer::start_on("127.0.0.31").await;
    let bob = victim.add_person("bob").await;
    let paths: Vec<String> = (0..20).map(|i| format!("/admin/delete/{i}")).collect();
    for (i, path) in paths.iter().enumerate() {
        // Distinct paths, a query, a sibling actor, the actor plus a path.
        let key_id = match i % 4 {
            0 => victim.url(path),
            1 => format!("{}?k={i}#main-key", bob),
            2 => victim.url(&format!("/u/other{i}#main-key")),
            _ => format!("{bob}/keys/main-key{i}"),
        };
        let f = forger(&bob, &key_id);
        let body = like(&victim, &bob).to_string();
        let a = h.deliver_raw(&f, "/inbox", body.as_bytes()).await;
        // Signers other than the actor are forwarders, whose keys are never fetched.
        assert_eq!(
            (a.status, a.rc()),
            (401, "KeyUnknown"),
            "{key_id}: {}",
            a.body
        );
    }
    let fetched: usize = paths
        .iter()
        .map(|p| victim.fetch_count(p))
        .chain((0..20).map(|i| victim.fetch_count(&format!("/u/other{i}"))))
        .sum::<usize>()
        + victim.fetch_count("/u/bob");
    assert_eq!(fetched, 0, "no GET reached the victim");
    assert!(h.journal().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_fetches_are_budgeted_per_host_and_failures_remembered() {
    let h = Harness::start(|c| c.key_fetch_per_host_per_minute = 5).await;
    let victim = TestPeer::start_on("127.0.0.32").await;
    let ghosts: Vec<String> = (0..20)
        .map(|i| victim.url(&format!("/u/ghost{i}")))
        .collect();
    let mut statuses = Vec::new();
    for g in &ghosts {
        let f = forger(g, &format!("{g}#main-key"));
        let body = like(&victim, g).to_string();
        let a = h.deliver_raw(&f, "/inbox", body.as_bytes()).await;
        if a.status == 503 {
            assert_eq!(a.rc(), "KeyFetchFailed", "{}", a.body);
            assert!(
                a.retry_after.is_some(),
                "503 over budget says when to retry"
            );
        } else {
            assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);
        }
        statuses.push(a.status);
    }
    let gets: usize = (0..20)
        .map(|i| victim.fetch_count(&format!("/u/ghost{i}")))
        .sum();
    assert_eq!(gets, 5, "the per-host budget bounds the GETs at the victim");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5);

    // The same failing documents again: answered from memory, no GET, still 401.
    for g in &ghosts[..5] {
        let f = forger(g, &format!("{g}#main-key"));
        let body = like(&victim, g).to_string();
        let a = h.deliver_raw(&f, "/inbox", body.as_bytes()).await;
        assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);
    }
    let gets: usize = (0..20)
        .map(|i| victim.fetch_count(&format!("/u/ghost{i}")))
        .sum();
    assert_eq!(gets, 5);
    assert!(remote_keys(&h).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_key_fragments_of_a_real_actor_cost_one_get() {
    let (h, peer, alice) = with_alice(|_| {}).await;
    for i in 0..10 {
        let f = forger(&alice, &format!("{alice}#key-{i}"));
        let body = like(&peer, &alice).to_string();
        let a = h.deliver_raw(&f, "/inbox", body.as_bytes()).await;
        assert!(
            matches!(
                (a.status, a.rc()),
                (401, "KeyUnknown") | (503, "KeyFetchFailed")
            ),
            "{}",
            a.body
        );
    }
    assert_eq!(
        peer.fetch_count("/u/alice"),
        1,
        "one GET of alice's document"
    );
    // A keyId longer than a URL should be is refused before anything is looked up.
    let long = forger(&alice, &format!("{alice}#{}", "k".repeat(5000)));
    let body = like(&peer, &alice).to_string();
    let a = h.deliver_raw(&long, "/inbox", body.as_bytes()).await;
    assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);
    // alice's real keyId, which the document holds, is fetched and accepted as usual.
    assert_eq!(h.like(&peer, &alice).await, 202);
    assert_eq!(peer.fetch_count("/u/alice"), 2);
    assert_eq!(h.journal().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_key_failure_is_remembered_briefly() {
    let (h, peer, alice) = with_alice(|_| {}).await;
    peer.set_route_behaviour(
        "/u/alice",
        Behaviour {
            status: Some(502),
            delay: None,
        },
    );
    for _ in 0..3 {
        let a = h.receive(&peer, &alice, &like(&peer, &alice)).await;
        assert_eq!((a.status, a.rc()), (503, "KeyFetchFailed"), "{}", a.body);
    }
    assert_eq!(peer.fetch_count("/u/alice"), 1, "one GET, then remembered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_count_only_from_their_owners_own_actor_document() {
    let (h, peer, _) = with_alice(|_| {}).await;
    // eve's document names mallory as the owner of eve's key.
    let eve = raw_actor(&peer, "eve");
    let mut doc = peer.actor_document("alice");
    let pem = sluice_apub::keypair::generate().unwrap();
    doc["id"] = json!(eve.id);
    doc["publicKey"] = json!({"id": eve.key_id, "owner": peer.url("/u/mallory"),
        "publicKeyPem": pem.public_pem});
    peer.serve_json("/u/eve", doc);
    let eve = RawActor {
        signer: Signer::from_pem(&eve.key_id, &pem.private_pem).unwrap(),
        ..eve
    };
    let a = h
        .deliver_raw(&eve, "/inbox", like(&peer, &eve.id).to_string().as_bytes())
        .await;
    assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);

    // A document served at /u/zed whose id is another actor: not zed's document.
    let zed = raw_actor(&peer, "zed");
    let mut doc = peer.actor_document("alice");
    let pem = sluice_apub::keypair::generate().unwrap();
    doc["publicKey"] = json!({"id": zed.key_id, "owner": doc["id"].clone(),
        "publicKeyPem": pem.public_pem});
    peer.serve_json("/u/zed", doc);
    let zed = RawActor {
        signer: Signer::from_pem(&zed.key_id, &pem.private_pem).unwrap(),
        ..zed
    };
    let a = h
        .deliver_raw(&zed, "/inbox", like(&peer, &zed.id).to_string().as_bytes())
        .await;
    assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);
    assert!(remote_keys(&h).await.is_empty(), "nothing stored");
    assert!(h.journal().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_ids_on_our_domain_resolve_to_local_keys_only() {
    let h = Harness::start(|_| {}).await;
    // An actor on our domain that does not exist: refused, nothing fetched or stored.
    let ghost = h.url("/u/ghost");
    let f = forger(&ghost, &format!("{ghost}#main-key"));
    let body = json!({"id": h.url("/activities/like/1"), "type": "Like", "actor": ghost,
        "object": h.url("/post/1")})
    .to_string();
    let a = h.deliver_raw(&f, "/inbox", body.as_bytes()).await;
    assert_eq!((a.status, a.rc()), (401, "KeyUnknown"), "{}", a.body);

    // A local actor's own key verifies (this harness serves no actor documents: the key can
    // only have come from `local_key`).
    let kp = sluice_apub::keypair::generate().unwrap();
    let carol = h.url("/u/carol");
    let key_id = format!("{carol}#main-key");
    sluice_db::actors::insert_key_if_absent(
        &h.t.db,
        &carol,
        &key_id,
        kp.public_pem.clone(),
        kp.private_pem.clone(),
    )
    .await
    .unwrap();
    let me = RawActor {
        id: carol.clone(),
        key_id: key_id.clone(),
        signer: Signer::from_pem(&key_id, &kp.private_pem).unwrap(),
    };
    let body = json!({"id": h.url("/activities/like/2"), "type": "Like", "actor": carol,
        "object": h.url("/post/1")})
    .to_string();
    assert_eq!(
        h.deliver_raw(&me, "/inbox", body.as_bytes()).await.status,
        202
    );
    assert!(
        remote_keys(&h).await.is_empty(),
        "local keys never go to remote_key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_actors_delete_is_journaled_under_a_derived_id_without_remove_data() {
    let (h, peer, _) = with_alice(|_| {}).await;
    let bob = peer.add_person("bob").await;
    let future_post = peer.url("/activities/create/future");
    peer.gone("bob");
    // The sender picks a real future id and asks for removeData.
    let delete = json!({"id": future_post, "type": "Delete", "actor": bob, "object": bob,
        "removeData": true, "to": ["https://www.w3.org/ns/activitystreams#Public"]});
    let a = h.receive(&peer, &bob, &delete).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("accepted")),
        "{}",
        a.body
    );
    let derived = format!("{bob}#sluice-gone");
    assert_eq!(a.body["id"], derived.as_str());
    assert_eq!(
        h.journal().await,
        vec![derived.clone()],
        "not under the sender's id"
    );
    let raw = raw_of(&h, &derived).await;
    assert_eq!(
        raw,
        json!({"@context": "https://www.w3.org/ns/activitystreams", "id": derived,
            "type": "Delete", "actor": bob, "object": bob})
    );
    // Another such Delete, with another id: the same derived id, a duplicate.
    let again = json!({"id": activity_id(&peer, "delete"), "type": "Delete", "actor": bob,
        "object": bob});
    let a = h.receive(&peer, &bob, &again).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("duplicate")),
        "{}",
        a.body
    );

    // Nobody may send an activity with a reserved id.
    let alice = peer.actor_id("alice");
    let squat = json!({"id": format!("{alice}#sluice-gone"), "type": "Delete", "actor": alice,
        "object": alice});
    let a = h.receive(&peer, &alice, &squat).await;
    assert_eq!((a.status, a.rc()), (400, "IdReserved"), "{}", a.body);
    assert_eq!(h.journal().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_rate_an_instance_gets_429_unless_allowed() {
    let (h, peer, alice) = with_alice(|c| {
        c.rate_limit_per_instance = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let a = h.receive(&peer, &alice, &like(&peer, &alice)).await;
        if a.status == 429 {
            assert_eq!(a.rc(), "RateLimited", "{}", a.body);
            assert!(a.retry_after.is_some());
        }
        statuses.push(a.status);
    }
    assert_eq!(&statuses[..3], &[202, 202, 202], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");

    // Another instance has its own budget.
    let other = TestPeer::start_on("127.0.0.33").await;
    let carl = other.add_person("carl").await;
    assert_eq!(h.like(&other, &carl).await, 202);

    // An allowed instance is exempt.
    instances::set_policy(
        &h.t.db,
        &sluice_trust::host::InstanceHost::parse(peer.domain()).unwrap(),
        Policy::Allow,
        None,
    )
    .await
    .unwrap();
    h.inbox.refresh_now().await.unwrap();
    for _ in 0..5 {
        assert_eq!(h.like(&peer, &alice).await, 202);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_beyond_f64_are_refused_with_400_not_500() {
    let (h, peer, _) = with_alice(|_| {}).await;
    let raw = raw_actor(&peer, "raw");
    for n in ["1e-20000", "1e400", "-1e400"] {
        let body = format!(
            r#"{{"id":"{}","type":"Like","actor":"{}","object":"{}","n":{n}}}"#,
            activity_id(&peer, "like"),
            raw.id,
            peer.url("/post/1")
        );
        let a = h.deliver_raw(&raw, "/inbox", body.as_bytes()).await;
        assert_eq!(
            (a.status, a.rc()),
            (400, "NumberOutOfRange"),
            "{n}: {}",
            a.body
        );
    }
    // An honest number is journaled with its digits as sent.
    let id = activity_id(&peer, "like");
    let body = format!(
        r#"{{"id":"{id}","type":"Like","actor":"{}","object":"{}","n":0.1000000000000000055511151231257827}}"#,
        raw.id,
        peer.url("/post/1")
    );
    assert_eq!(
        h.deliver_raw(&raw, "/inbox", body.as_bytes()).await.status,
        202
    );
    let stored = raw_text(&h, &id).await;
    assert!(
        stored.contains("0.1000000000000000055511151231257827"),
        "every digit kept (jsonb stores numbers as exact decimals): {stored}"
    );
    assert_eq!(h.journal().await, vec![id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_signature_times_are_answered_401_not_dropped() {
    let (h, peer, _) = with_alice(|_| {}).await;
    let raw = raw_actor(&peer, "raw");
    for param in [
        "created=18446744073709551615",
        "expires=18446744073709551615",
        "created=-1",
        "expires=99999999999999999999999999",
        "created=abc",
    ] {
        let body = like(&peer, &raw.id).to_string();
        let mut headers =
            h.signed_headers(&raw.signer, "/inbox", body.as_bytes(), SystemTime::now());
        let sig = headers.iter_mut().find(|(k, _)| *k == "Signature").unwrap();
        sig.1 = sig.1.replacen(',', &format!(",{param},"), 1);
        let a = h.post_raw("/inbox", body.into_bytes(), &headers).await;
        assert_eq!(
            (a.status, a.rc()),
            (401, "SignatureMalformed"),
            "{param}: {}",
            a.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_id_one_segment_under_the_actor_is_read_from_the_actors_own_document() {
    let h = Harness::start(|_| {}).await;
    let peer = TestPeer::start().await;
    // GoToSocial's form: the key is `<actor>/main-key`, listed in the actor's document.
    let id = peer.url("/users/gina");
    let key_id = format!("{id}/main-key");
    let kp = sluice_apub::keypair::generate().unwrap();
    peer.serve_json(
        "/users/gina",
        json!({"@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": id, "type": "Person", "preferredUsername": "gina", "inbox": format!("{id}/inbox"),
            "publicKey": {"id": key_id, "owner": id, "publicKeyPem": kp.public_pem}}),
    );
    let gina = RawActor {
        id: id.clone(),
        key_id: key_id.clone(),
        signer: Signer::from_pem(&key_id, &kp.private_pem).unwrap(),
    };
    let a = h
        .deliver_raw(&gina, "/inbox", like(&peer, &id).to_string().as_bytes())
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(
        peer.fetch_count("/users/gina"),
        1,
        "the actor's document, once"
    );
    assert_eq!(peer.fetch_count("/users/gina/main-key"), 0);
    assert_eq!(remote_keys(&h).await, vec![key_id.clone()]);
    // A key the document does not list under that id is refused, and a path two segments
    // down is no key of the actor's (a forward by an unknown signer): nothing more fetched.
    for (other, rc) in [
        (format!("{id}/other-key"), "KeyUnknown"),
        (format!("{id}/keys/main-key"), "KeyUnknown"),
    ] {
        let a = h
            .deliver_raw(
                &forger(&id, &other),
                "/inbox",
                like(&peer, &id).to_string().as_bytes(),
            )
            .await;
        assert!(
            a.status == 401 && a.rc() == rc || a.status == 503,
            "{other}: {} {}",
            a.status,
            a.body
        );
    }
    assert_eq!(peer.fetch_count("/users/gina"), 1);
    assert_eq!(peer.fetch_count("/users/gina/keys/main-key"), 0);
    // The journal holds gina's own activity only.
    assert_eq!(h.journal().await.len(), 1);
}
