//! Test support: a tiny peer that serves actor documents and signs deliveries with
//! `sluice_apub::signature::Signer`, and the inbox served in-process on a real port.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use sluice_apub::signature::Signer;
use sluice_db::diesel;
use sluice_db::{Db, PoolOptions};
use sluice_inbox::{Deps, Inbox, InboxConfig};
use sluice_testkit::{TestDb, test_db};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What the peer answers for a path.
#[derive(Clone)]
enum Doc {
    Actor(Value),
    Gone,
}

#[derive(Default)]
struct PeerState {
    docs: Mutex<HashMap<String, Doc>>,
    signers: Mutex<HashMap<String, Signer>>,
    fetches: AtomicU64,
}

/// An actor the peer hosts.
#[derive(Clone)]
pub struct PeerActor {
    /// Its id.
    pub id: String,
    /// Its key id.
    pub key_id: String,
    /// Its private key.
    pub signer: Signer,
}

/// A fediverse server on 127.0.0.1 serving actor documents.
pub struct Peer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    state: Arc<PeerState>,
}

impl Peer {
    /// Starts serving on a free port.
    pub async fn start() -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(PeerState::default());
        let st = state.clone();
        let srv = HttpServer::new(move || {
            let st = st.clone();
            App::new().default_service(web::to(move |req: actix_web::HttpRequest| {
                let st = st.clone();
                async move {
                    st.fetches.fetch_add(1, Ordering::Relaxed);
                    let doc = st.docs.lock().unwrap().get(req.path()).cloned();
                    match doc {
                        Some(Doc::Actor(v)) => HttpResponse::Ok()
                            .content_type("application/activity+json")
                            .json(v),
                        Some(Doc::Gone) => HttpResponse::Gone().finish(),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(srv);
        Peer {
            base: format!("http://127.0.0.1:{port}"),
            host: format!("127.0.0.1:{port}"),
            state,
        }
    }

    /// The actor at `path` (`/u/alice`), created with a fresh key on first use.
    pub fn actor(&self, path: &str) -> PeerActor {
        if let Some(s) = self.state.signers.lock().unwrap().get(path) {
            return PeerActor {
                id: format!("{}{path}", self.base),
                key_id: s.key_id.clone(),
                signer: s.clone(),
            };
        }
        self.rotate(path)
    }

    /// Gives the actor at `path` a new key (or creates it).
    pub fn rotate(&self, path: &str) -> PeerActor {
        let id = format!("{}{path}", self.base);
        let key_id = format!("{id}#main-key");
        let kp = sluice_apub::keys::generate().unwrap();
        let signer = Signer::from_pem(&key_id, &kp.private_pem).unwrap();
        let kind = if path.starts_with("/c/") {
            "Group"
        } else {
            "Person"
        };
        let doc = json!({
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": id,
            "type": kind,
            "preferredUsername": path.rsplit('/').next().unwrap(),
            "inbox": format!("{id}/inbox"),
            "endpoints": { "sharedInbox": format!("{}/inbox", self.base) },
            "publicKey": { "id": key_id, "owner": id, "publicKeyPem": kp.public_pem },
        });
        self.state
            .docs
            .lock()
            .unwrap()
            .insert(path.to_string(), Doc::Actor(doc));
        self.state
            .signers
            .lock()
            .unwrap()
            .insert(path.to_string(), signer.clone());
        PeerActor { id, key_id, signer }
    }

    /// The actor at `path` now answers 410 Gone.
    pub fn gone(&self, path: &str) {
        self.state
            .docs
            .lock()
            .unwrap()
            .insert(path.to_string(), Doc::Gone);
    }

    /// Requests served so far.
    pub fn fetches(&self) -> u64 {
        self.state.fetches.load(Ordering::Relaxed)
    }

    /// A fresh activity id on this peer.
    pub fn activity_id(&self, kind: &str) -> String {
        format!("{}/activities/{kind}/{:016x}", self.base, rand_u64())
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// A Like by `actor`, with a fresh id.
pub fn like(peer: &Peer, actor: &PeerActor) -> String {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": peer.activity_id("like"),
        "type": "Like",
        "actor": actor.id,
        "object": format!("{}/post/1", peer.base),
    })
    .to_string()
}

/// The usual cast: the inbox (configured by `tweak`), a peer, and its user alice.
pub async fn with_alice(tweak: impl FnOnce(&mut InboxConfig)) -> (Harness, Peer, PeerActor) {
    let h = Harness::start(tweak).await;
    let peer = Peer::start().await;
    let alice = peer.actor("/u/alice");
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
        let kp = sluice_apub::keys::generate().unwrap();
        let signer =
            Signer::from_pem(&format!("http://{domain}/#main-key"), &kp.private_pem).unwrap();
        let inbox = Inbox::start(
            Deps {
                db: inbox_db.clone(),
                net,
                signer,
            },
            cfg,
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

    /// Delivers `body` signed by `actor`, as a well-behaved sender does.
    pub async fn deliver(&self, actor: &PeerActor, path: &str, body: &str) -> Answer {
        let h = self.signed_headers(&actor.signer, path, body.as_bytes(), SystemTime::now());
        self.post_raw(path, body.as_bytes().to_vec(), &h).await
    }

    /// Delivers a fresh Like by `actor` to the shared inbox; returns the status.
    pub async fn like(&self, peer: &Peer, actor: &PeerActor) -> u16 {
        self.deliver(actor, "/inbox", &like(peer, actor))
            .await
            .status
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
