//! Test support: receiving peers on 127.0.0.1 that verify every request's signature with
//! `sluice_apub::signature::check` and the signer's public key from `local_key`, answer as
//! scripted, and record what they accepted; and a queue on a fresh database.

#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures::FutureExt;
use rsa::RsaPublicKey;
use serde_json::{Value, json};
use sluice_apub::signature::{Incoming, VerifyPolicy, check};
use sluice_db::outbound::{Audience, NewOutbound, append};
use sluice_db::{Db, diesel};
use sluice_net::{Client, NetConfig};
use sluice_queue::{Queue, QueueConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The test instance's domain (ids use http: dev mode).
pub const LOCAL: &str = "local.test";

/// How a peer answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 202.
    Accept,
    /// This status.
    Status(u16),
    /// 429 with `Retry-After: N`.
    RetryAfter(u64),
}

/// Decides the answer from (activity id, number of requests so far, 0-based).
pub type Script = Box<dyn FnMut(&str, usize) -> Reply + Send>;

/// One request a peer answered.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The activity's id.
    pub activity_id: String,
    /// Its `object` (as sent; the ordering key in these tests).
    pub object: Option<String>,
    /// The signer's key id.
    pub key_id: String,
    /// What the peer answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

struct Inner {
    keys: HashMap<String, RsaPublicKey>,
    script: Mutex<Script>,
    hits: Mutex<Vec<Hit>>,
    requests: Mutex<usize>,
    delay: Duration,
}

/// A receiving peer.
pub struct Peer {
    /// host:port, its instance domain.
    pub domain: String,
    inner: Arc<Inner>,
    handle: actix_web::dev::ServerHandle,
}

fn headers(req: &HttpRequest) -> BTreeMap<String, String> {
    req.headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

async fn inbox(inner: web::Data<Inner>, req: HttpRequest, body: Bytes) -> HttpResponse {
    let inc = Incoming {
        method: "POST",
        path_and_query: req.uri().path(),
        headers: headers(&req),
        body: Some(&body),
    };
    let verified = check(inc, &VerifyPolicy::default(), SystemTime::now()).and_then(|c| {
        let key = inner
            .keys
            .get(&c.key_id)
            .ok_or(sluice_apub::signature::SignatureError::Invalid)?;
        c.verify(key).map(|_| c.key_id)
    });
    let key_id = match verified {
        Ok(k) => k,
        Err(e) => return HttpResponse::Unauthorized().body(e.to_string()),
    };
    let activity: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = activity["id"].as_str().unwrap_or("").to_string();
    if !inner.delay.is_zero() {
        tokio::time::sleep(inner.delay).await;
    }
    let n = {
        let mut r = inner.requests.lock().unwrap();
        *r += 1;
        *r - 1
    };
    let reply = (inner.script.lock().unwrap())(&id, n);
    let status = match reply {
        Reply::Accept => 202,
        Reply::Status(s) => s,
        Reply::RetryAfter(_) => 429,
    };
    inner.hits.lock().unwrap().push(Hit {
        activity_id: id,
        object: activity["object"].as_str().map(str::to_string),
        key_id,
        status,
        at: Instant::now(),
    });
    let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Reply::RetryAfter(s) = reply {
        r.insert_header(("Retry-After", s.to_string()));
    }
    r.finish()
}

impl Peer {
    /// Starts a peer that knows the public keys of every local actor in `db`.
    pub async fn start(db: &Db, script: Script, delay: Duration) -> Peer {
        let keys = local_public_keys(db).await;
        let inner = Arc::new(Inner {
            keys,
            script: Mutex::new(script),
            hits: Mutex::default(),
            requests: Mutex::new(0),
            delay,
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = web::Data::from(inner.clone());
        let srv = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/inbox", web::post().to(inbox))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = srv.handle();
        tokio::spawn(srv);
        Peer {
            domain: format!("127.0.0.1:{port}"),
            inner,
            handle,
        }
    }

    /// A peer that accepts everything.
    pub async fn healthy(db: &Db) -> Peer {
        Peer::start(db, Box::new(|_, _| Reply::Accept), Duration::ZERO).await
    }

    /// Its shared inbox.
    pub fn inbox(&self) -> String {
        format!("http://{}/inbox", self.domain)
    }

    /// Every request answered, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().unwrap().clone()
    }

    /// Activity ids answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<String> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.status))
            .map(|h| h.activity_id)
            .collect()
    }

    /// Waits until `n` distinct activities were accepted (panics after `limit`); returns
    /// every acceptance, re-sends included, in arrival order.
    pub async fn wait_accepted(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.accepted();
            if got.iter().collect::<std::collections::HashSet<_>>().len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "peer {} accepted {} of {n}: {got:?}",
                self.domain,
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops answering (the port closes).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn local_public_keys(db: &Db) -> HashMap<String, RsaPublicKey> {
    #[derive(sluice_db::diesel::QueryableByName)]
    struct K {
        #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
        key_id: String,
        #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
        public_key_pem: String,
    }
    use sluice_db::diesel_async::RunQueryDsl;
    let rows: Vec<K> = db
        .run("test_keys", |c| {
            sluice_db::sql("SELECT key_id, public_key_pem FROM local_key")
                .load(c)
                .boxed()
        })
        .await
        .unwrap();
    rows.into_iter()
        .map(|k| {
            (
                k.key_id,
                sluice_apub::keypair::parse_public(&k.public_key_pem).unwrap(),
            )
        })
        .collect()
}

/// Id of a local actor.
pub fn actor(name: &str) -> String {
    format!("http://{LOCAL}/u/{name}")
}

/// Gives local actor `name` a fresh key pair.
pub async fn local_actor(db: &Db, name: &str) -> String {
    let id = actor(name);
    let kp = sluice_apub::keypair::generate().unwrap();
    sluice_db::actors::insert_key_if_absent(
        db,
        &id,
        &format!("{id}#main-key"),
        kp.public_pem,
        kp.private_pem,
    )
    .await
    .unwrap();
    id
}

/// A test activity: `n` about `object`, by `actor`.
pub fn activity(actor: &str, n: usize, object: &str) -> Value {
    json!({
        "id": format!("http://{LOCAL}/activities/{n}"),
        "type": "Like",
        "actor": actor,
        "object": object,
    })
}

/// Appends activities (each to `inboxes`) in one statement; returns their outbound ids.
pub async fn enqueue(db: &Db, items: Vec<(String, Value)>, inboxes: &[String]) -> Vec<i64> {
    let items: Vec<NewOutbound> = items
        .into_iter()
        .map(|(actor, raw)| NewOutbound {
            activity_id: raw["id"].as_str().unwrap().to_string(),
            actor_ap_id: actor,
            object_ap_id: raw["object"].as_str().map(str::to_string),
            raw,
            audience: Audience::Inboxes(inboxes.to_vec()),
        })
        .collect();
    db.run("test_enqueue", move |c| {
        async move { append(c, &items).await }.boxed()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|a| a.id)
    .collect()
}

/// Queue settings fast enough for tests.
pub fn fast(window: usize) -> QueueConfig {
    QueueConfig {
        window,
        lease_ttl: Duration::from_secs(3),
        poll_interval: Duration::from_millis(50),
        flush_interval: Duration::from_millis(100),
        ..QueueConfig::default()
    }
}

/// The outgoing client, loopback allowed, with a short timeout.
pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(NetConfig {
        dev_mode: true,
        request_timeout: Duration::from_secs(2),
        ..NetConfig::default()
    })
    .unwrap()
}

/// A queue on `db`.
pub fn queue(db: &Db, cfg: QueueConfig) -> Queue {
    cfg.start(
        sluice_queue::Deps {
            db: db.clone(),
            client: client(),
        },
        sluice_stage::Shutdown::new(),
    )
}

/// One row of `delivery_state` by domain.
#[derive(Debug, Clone, sluice_db::diesel::QueryableByName)]
pub struct State {
    #[diesel(sql_type = sluice_db::diesel::sql_types::BigInt)]
    pub last_delivered_id: i64,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Integer)]
    pub fail_count: i32,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
    pub state: String,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Nullable<sluice_db::diesel::sql_types::Text>)]
    pub lease_owner: Option<String>,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Nullable<sluice_db::diesel::sql_types::Timestamptz>)]
    pub next_retry_at: Option<chrono::DateTime<chrono::Utc>>,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Nullable<sluice_db::diesel::sql_types::Text>)]
    pub last_error: Option<String>,
}

/// The delivery state of `domain`.
pub async fn state(db: &Db, domain: &str) -> Option<State> {
    use sluice_db::diesel_async::RunQueryDsl;
    let domain = domain.to_string();
    db.run("test_state", move |c| {
        sluice_db::sql(
            "SELECT d.last_delivered_id, d.fail_count, d.state, d.lease_owner, d.next_retry_at, d.last_error \
             FROM delivery_state d JOIN instance i ON i.id = d.instance_id WHERE i.domain = $1",
        )
        .bind::<sluice_db::diesel::sql_types::Text, _>(domain)
        .load::<State>(c)
        .boxed()
    })
    .await
    .unwrap()
    .pop()
}

/// Waits until `cond` holds for `domain`'s delivery state.
pub async fn wait_state(
    db: &Db,
    domain: &str,
    limit: Duration,
    cond: impl Fn(&State) -> bool,
) -> State {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = state(db, domain).await
            && cond(&s)
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "state of {domain} not reached: {:?}",
            state(db, domain).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs one statement (setup).
pub async fn exec(db: &Db, sql: &'static str) {
    use sluice_db::diesel_async::RunQueryDsl;
    db.run("test_exec", move |c| sluice_db::sql(sql).execute(c).boxed())
        .await
        .unwrap();
}

/// Asserts that, per object, activities first arrived in increasing order (a re-send of
/// one that already arrived, after a crash, is allowed anywhere).
pub fn assert_in_order_per_object(hits: &[Hit]) {
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for h in hits.iter().filter(|h| (200..300).contains(&h.status)) {
        if !seen.insert(h.activity_id.clone()) {
            continue;
        }
        let n: i64 = h.activity_id.rsplit('/').next().unwrap().parse().unwrap();
        let obj = h.object.clone().unwrap_or_default();
        if let Some(prev) = last.get(&obj) {
            assert!(
                n > *prev,
                "{} arrived after {prev} for object {obj}",
                h.activity_id
            );
        }
        last.insert(obj, n);
    }
}

/// Runs one statement built at run time (setup).
pub async fn exec_sql(db: &Db, sql: String) {
    use sluice_db::diesel_async::RunQueryDsl;
    db.run("test_exec", move |c| {
        sluice_db::diesel::sql_query(sql).execute(c).boxed()
    })
    .await
    .unwrap();
}

/// The text column `v` of a one-row query.
pub async fn text(db: &Db, sql: String) -> String {
    use sluice_db::diesel_async::RunQueryDsl;
    #[derive(sluice_db::diesel::QueryableByName)]
    struct V {
        #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
        v: String,
    }
    db.run("test_text", move |c| {
        sluice_db::diesel::sql_query(sql).get_result::<V>(c).boxed()
    })
    .await
    .unwrap()
    .v
}
