//! Test support: the inbox served in-process on a real port, and ways to talk to it: the
//! testkit's `TestPeer` (an independent instance that signs with activitypub_federation, as
//! Lemmy does) and `RawActor`s (a key the test holds, published by a `TestPeer`) for
//! requests no well-behaved library would produce (malformed JSON, odd media types).

use actix_web::{App, HttpServer};
use serde_json::{Value, json};
use sluice_apub::signature::Signer;
use sluice_db::diesel;
use sluice_db::{Db, PoolOptions};
use sluice_inbox::{Deps, Inbox, InboxConfig};
use sluice_stage::{Handle, Shutdown, Waker};
use sluice_testkit::peer::{Tamper, TestPeer};
use sluice_testkit::{TestDb, test_db};
use std::net::TcpListener;
use std::time::SystemTime;

/// An actor whose private key the test holds (so it can sign any bytes, even malformed
/// JSON), published by a [`TestPeer`] as an ordinary actor document.
#[derive(Clone)]
pub struct RawActor {
    /// Its id.
    pub id: String,
    /// Its key id.
    pub key_id: String,
    /// Its private key.
    pub signer: Signer,
}

/// Publishes a fresh person `/u/NAME` with a key the test holds.
pub fn raw_actor(peer: &TestPeer, name: &str) -> RawActor {
    let id = peer.url(&format!("/u/{name}"));
    let key_id = format!("{id}#main-key");
    let kp = sluice_apub::keypair::generate().unwrap();
    peer.serve_json(
        &format!("/u/{name}"),
        json!({
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": id, "type": "Person", "preferredUsername": name,
            "inbox": format!("{id}/inbox"),
            "endpoints": { "sharedInbox": peer.shared_inbox() },
            "publicKey": { "id": key_id, "owner": id, "publicKeyPem": kp.public_pem },
        }),
    );
    RawActor {
        signer: Signer::from_pem(&key_id, &kp.private_pem).unwrap(),
        id,
        key_id,
    }
}

fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64;
    nanos ^ (SEQ.fetch_add(1, Ordering::Relaxed) << 48)
}

/// A fresh activity id on `peer`.
pub fn activity_id(peer: &TestPeer, kind: &str) -> String {
    peer.url(&format!("/activities/{kind}/{:016x}", rand_u64()))
}

/// A Like by the actor `actor_id`, with a fresh id.
pub fn like(peer: &TestPeer, actor_id: &str) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": activity_id(peer, "like"),
        "type": "Like",
        "actor": actor_id,
        "object": peer.url("/post/1"),
    })
}

/// The usual cast: the inbox (configured by `tweak`), a peer, and its user alice (who signs
/// through activitypub_federation).
pub async fn with_alice(tweak: impl FnOnce(&mut InboxConfig)) -> (Harness, TestPeer, String) {
    let h = Harness::start(tweak).await;
    let peer = TestPeer::start().await;
    let alice = peer.add_person("alice").await;
    (h, peer, alice)
}

/// The inbox on a real port, on a fresh test database.
pub struct Harness {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The running inbox.
    pub inbox: Inbox,
    /// The pool the inbox uses (its round-trip counter is the inbox's alone).
    pub inbox_db: Db,
    /// The test database (a separate pool, for assertions).
    pub t: TestDb,
    /// What the inbox wakes after journal inserts that stored something (the pipeline's
    /// waker in `sluice serve`).
    pub journaled: Waker,
    /// The inbox stage (journal writer and probe), to stop it.
    pub stage: std::sync::Mutex<Option<Handle>>,
    pub client: reqwest::Client,
}

/// An answer.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    pub fn rc(&self) -> &str {
        self.body["rc"].as_str().unwrap_or("")
    }
}

impl Harness {
    /// Starts with the default configuration, adjusted by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut InboxConfig)) -> Harness {
        Self::start_on(test_db().await, tweak).await
    }

    /// Starts on an existing test database.
    pub async fn start_on(t: TestDb, tweak: impl FnOnce(&mut InboxConfig)) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let domain = format!("127.0.0.1:{port}");
        let mut cfg = InboxConfig {
            domain: domain.clone(),
            ..InboxConfig::default()
        };
        tweak(&mut cfg);
        let inbox_db = Db::connect(&t.url, PoolOptions::default()).await.unwrap();
        let net = sluice_net::Client::new(sluice_net::NetConfig {
            dev_mode: true,
            ..Default::default()
        })
        .unwrap();
        let kp = sluice_apub::keypair::generate().unwrap();
        let signer =
            Signer::from_pem(&format!("http://{domain}/#main-key"), &kp.private_pem).unwrap();
        let journaled = Waker::waiting();
        let (inbox, stage) = cfg
            .start(
                Deps {
                    db: inbox_db.clone(),
                    net,
                    signer,
                    journaled: Some(journaled.clone()),
                    local_journal: None,
                },
                Shutdown::new(),
            )
            .await
            .unwrap();
        let served = inbox.clone();
        let srv = HttpServer::new(move || {
            let inbox = served.clone();
            App::new().configure(move |c| sluice_inbox::configure(c, inbox))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(srv);
        Harness {
            base: format!("http://{domain}"),
            inbox,
            inbox_db,
            t,
            journaled,
            stage: std::sync::Mutex::new(Some(stage)),
            client: sluice_testkit::http_client(),
        }
    }

    /// POSTs `body` to `path` with exactly these headers.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, String)]) -> Answer {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            body,
            retry_after,
        }
    }

    /// The headers a correct signer sends for `body` to `path`, signed at `when`.
    pub fn signed_headers(
        &self,
        signer: &Signer,
        path: &str,
        body: &[u8],
        when: SystemTime,
    ) -> Vec<(&'static str, String)> {
        let url = url::Url::parse(&format!("{}{path}", self.base)).unwrap();
        let s = signer.sign("POST", &url, Some(body), when);
        vec![
            ("Content-Type", "application/activity+json".to_string()),
            ("Date", s.date),
            ("Digest", s.digest.unwrap()),
            ("Signature", s.signature),
        ]
    }

    /// `body` signed by `actor` with our own signer (any bytes), to `path`.
    pub async fn deliver_raw(&self, actor: &RawActor, path: &str, body: &[u8]) -> Answer {
        let h = self.signed_headers(&actor.signer, path, body, SystemTime::now());
        self.post_raw(path, body.to_vec(), &h).await
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `activity` delivered to our shared inbox by the peer's actor `signer`, signed with
    /// activitypub_federation (as Lemmy signs).
    pub async fn receive(&self, peer: &TestPeer, signer: &str, activity: &Value) -> Answer {
        self.receive_with(peer, signer, activity, Tamper::None)
            .await
    }

    /// [`Harness::receive`], spoiled as `tamper` says.
    pub async fn receive_with(
        &self,
        peer: &TestPeer,
        signer: &str,
        activity: &Value,
        tamper: Tamper,
    ) -> Answer {
        let d = peer
            .deliver_with(&self.url("/inbox"), signer, activity, tamper)
            .await
            .unwrap();
        Answer {
            status: d.status,
            retry_after: d
                .headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            body: d.json().unwrap_or(Value::String(d.text)),
        }
    }

    /// A fresh Like by the peer's actor `actor` (an id), delivered through
    /// activitypub_federation; returns the status.
    pub async fn like(&self, peer: &TestPeer, actor: &str) -> u16 {
        self.receive(peer, actor, &like(peer, actor)).await.status
    }

    /// Every journaled activity id, in journal order.
    pub async fn journal(&self) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            activity_id: String,
        }
        use sluice_db::diesel_async::RunQueryDsl;
        let rows: Vec<Row> = self
            .t
            .db
            .run("test_journal", |c| {
                Box::pin(
                    sluice_db::sql("SELECT activity_id FROM received_activity ORDER BY id").load(c),
                )
            })
            .await
            .unwrap();
        rows.into_iter().map(|r| r.activity_id).collect()
    }
}
