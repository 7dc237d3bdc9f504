//! A real, independent federated peer for tests: a fake remote Lemmy instance on loopback.
//!
//! sluice's inbox, ingestion pipeline, send queue and benchmark need someone to talk to who
//! behaves like Lemmy on the wire but shares none of sluice's code, so that a test proves
//! interoperability rather than self-consistency. [`TestPeer`] is that instance: an actix-web
//! server on `127.0.0.x:<free port>` (running in the caller's tokio runtime) that
//!
//! - serves Lemmy-shaped actor documents (persons at `/u/NAME`, groups at `/c/NAME`, the
//!   instance actor at `/`), each with its own RSA-2048 key, plus webfinger, nodeinfo and any
//!   JSON a test asks it to serve ([`TestPeer::serve_json`]); actors can disappear
//!   ([`TestPeer::gone`], 410) or change key ([`TestPeer::rotate_key`]), and any path can be
//!   made slow or failing ([`TestPeer::set_route_behaviour`]);
//! - sends activities like a Lemmy instance does ([`TestPeer::deliver`]): a `POST` signed by
//!   **activitypub_federation** (the library Lemmy uses) with one of its actors' keys, or
//!   deliberately spoiled ([`TestPeer::deliver_with`] and [`Tamper`]) for rejection tests;
//! - receives activities at `/inbox`, `/u/NAME/inbox` and `/c/NAME/inbox`, verifying each with
//!   activitypub_federation after fetching the signer's actor document over HTTP (from sluice,
//!   exactly as Lemmy would), recording it ([`Received`], in arrival order) and answering as
//!   scripted ([`Reply`]: Lemmy's own 200/400, a fixed status for the next N requests or for
//!   one activity, 429 with `Retry-After`, a delay, no answer at all), or not listening
//!   ([`TestPeer::stop`]). A sender that serves no actor documents (sluice's send queue
//!   without its HTTP server) has its keys given with [`TestPeer::trust_key`].
//!
//! ```no_run
//! # async fn example() {
//! use sluice_testkit::peer::{Reply, TestPeer};
//! use std::time::Duration;
//! let peer = TestPeer::start().await;
//! let alice = peer.add_person("alice").await;
//! let like = serde_json::json!({
//!     "id": peer.url("/activities/like/1"), "type": "Like", "actor": alice,
//!     "object": "http://127.0.0.1:8080/post/1",
//! });
//! let answer = peer.deliver("http://127.0.0.1:8080/inbox", "alice", &like).await.unwrap();
//! assert_eq!(answer.status, 202);
//!
//! // As a target for sluice's send queue: fail twice, then accept.
//! peer.inbox_reply_next(2, Reply::Status(500));
//! let got = peer.wait_received(3, Duration::from_secs(30)).await.unwrap();
//! assert!(got.iter().all(|r| r.is_authentic()));
//! # }
//! ```
//!
//! Why the verifier is `signing_actor` rather than Lemmy's `receive_activity`: see `verify.rs`
//! (the library refuses IP-literal hosts there). Keys: see `keys.rs` (one per actor, cached
//! on disk across test processes).
#![deny(missing_docs)]

mod actors;
mod inbox;
mod keys;
mod send;
mod server;
mod state;
mod verify;

pub use actors::ActorKind;
pub use send::{Delivery, Tamper};
pub use state::{Behaviour, Received, Reply};

pub(crate) use actors::lemmy_context;

use activitypub_federation::config::FederationConfig;
use actix_web::dev::ServerHandle;
use actix_web::web;
use actors::LocalActor;
use keys::ActorKey;
use send::Signer;
use serde_json::Value;
use state::{Peer, State};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OnceCell, watch};
use url::Url;
use verify::PeerData;

/// What can go wrong when the peer sends or waits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer has no actor of that name or id.
    #[error("no actor {0:?} on this peer")]
    UnknownActor(String),
    /// A URL that does not parse or has no host.
    #[error("invalid URL {0:?}: {1}")]
    Url(String, String),
    /// Building or signing the request failed.
    #[error("signing: {0}")]
    Sign(String),
    /// The request failed on the network (refused, timed out, ...).
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// [`TestPeer::wait_received`] ran out of time.
    #[error("waited for {wanted} inbox requests, {got} arrived")]
    Timeout {
        /// How many were awaited.
        wanted: usize,
        /// How many had arrived.
        got: usize,
    },
    /// [`TestPeer::wait_accepted`] ran out of time.
    #[error("waited for {wanted} accepted activities, {got} were")]
    NotAccepted {
        /// How many distinct activities were awaited.
        wanted: usize,
        /// How many distinct activities had been accepted.
        got: usize,
    },
}

/// A fake remote instance; cheap to clone (all clones are the same peer). The server stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct TestPeer {
    inner: Arc<Inner>,
}

struct Inner {
    peer: web::Data<Peer>,
    addr: SocketAddr,
    server: Mutex<Option<ServerHandle>>,
    /// For deliveries (the caller's runtime).
    client: reqwest::Client,
    /// The unrelated key [`Tamper::SignedWithWrongKey`] signs with.
    stranger: OnceCell<Arc<ActorKey>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let handle = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // `stop` sends the command before returning its completion future, which we
            // cannot await here; dropping that future does not cancel the stop.
            #[allow(clippy::let_underscore_future)]
            let _ = handle.stop(false);
        }
    }
}

impl TestPeer {
    /// Starts a peer on `127.0.0.1:<free port>`.
    pub async fn start() -> TestPeer {
        TestPeer::start_on("127.0.0.1").await
    }

    /// Starts a peer on `ip:<free port>`; any `127.x.y.z` works on Linux, so peers can have
    /// distinct hosts.
    ///
    /// # Panics
    /// If `ip` is not an IP address or nothing can be bound there.
    pub async fn start_on(ip: &str) -> TestPeer {
        let ip: IpAddr = ip.parse().expect("TestPeer::start_on wants an IP address");
        let listener = TcpListener::bind((ip, 0)).expect("bind the test peer");
        let addr = listener.local_addr().expect("test peer address");
        let domain = addr.to_string();
        let base = format!("http://{domain}");
        let federation = FederationConfig::builder()
            .domain(domain.clone())
            .app_data(PeerData::new())
            .debug(true)
            .http_signature_compat(true)
            .build()
            .await
            .expect("activitypub_federation config");
        let (received_count, _) = watch::channel(0);
        let peer = web::Data::new(Peer {
            domain: domain.clone(),
            base: base.clone(),
            state: Mutex::new(State::new()),
            seq: AtomicU64::new(0),
            received_count,
            federation,
        });
        let instance = LocalActor {
            kind: ActorKind::Instance,
            name: domain.clone(),
            id: Url::parse(&format!("{base}/")).expect("instance actor id"),
            key: keys::fresh_key().await,
            gone: false,
        };
        peer.lock().actors.insert("/".to_string(), instance);
        let peer = TestPeer {
            inner: Arc::new(Inner {
                peer,
                addr,
                server: Mutex::new(None),
                client: crate::http_client(),
                stranger: OnceCell::new(),
            }),
        };
        peer.serve_on(listener);
        peer
    }

    fn serve_on(&self, listener: TcpListener) {
        let server = server::serve(self.inner.peer.clone(), listener).expect("start the test peer");
        *self.lock_server() = Some(server.handle());
        tokio::spawn(server);
    }

    fn lock_server(&self) -> std::sync::MutexGuard<'_, Option<ServerHandle>> {
        self.inner
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn peer(&self) -> &Peer {
        &self.inner.peer
    }

    /// `IP:PORT`, the peer's host as it appears in its ids.
    pub fn domain(&self) -> &str {
        &self.peer().domain
    }

    /// `http://IP:PORT`.
    pub fn base(&self) -> &str {
        &self.peer().base
    }

    /// `http://IP:PORT` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The shared inbox, `http://IP:PORT/inbox`.
    pub fn shared_inbox(&self) -> String {
        self.url("/inbox")
    }

    /// The instance actor's id, `http://IP:PORT/` (its name is [`TestPeer::domain`]).
    pub fn instance_actor(&self) -> String {
        self.url("/")
    }

    async fn add(&self, kind: ActorKind, name: &str) -> String {
        let path = kind.path(name);
        if let Some(existing) = self.peer().lock().actor(name) {
            assert!(
                existing.kind == kind,
                "the test peer already has a {:?} called {name:?}",
                existing.kind
            );
            return existing.id.to_string();
        }
        let key = keys::fresh_key().await;
        let id = Url::parse(&self.url(&path)).expect("actor id");
        let mut st = self.peer().lock();
        let actor = st.actors.entry(path).or_insert(LocalActor {
            kind,
            name: name.to_string(),
            id,
            key,
            gone: false,
        });
        actor.id.to_string()
    }

    /// Adds a person at `/u/NAME` with its own key; returns its id. Adding it again returns
    /// the same id.
    ///
    /// # Panics
    /// If a group of that name exists (names are unique across kinds, so a name alone says
    /// who signs).
    pub async fn add_person(&self, name: &str) -> String {
        self.add(ActorKind::Person, name).await
    }

    /// Adds a group (community) at `/c/NAME` with its own key; returns its id.
    ///
    /// # Panics
    /// If a person of that name exists.
    pub async fn add_group(&self, name: &str) -> String {
        self.add(ActorKind::Group, name).await
    }

    fn with_actor<T>(&self, name_or_id: &str, f: impl FnOnce(&LocalActor) -> T) -> T {
        let st = self.peer().lock();
        let actor = st
            .actor(name_or_id)
            .unwrap_or_else(|| panic!("no actor {name_or_id:?} on the test peer"));
        f(actor)
    }

    /// The id of the actor called `name` (or with that id).
    ///
    /// # Panics
    /// If there is none (likewise for the other per-actor accessors).
    pub fn actor_id(&self, name: &str) -> String {
        self.with_actor(name, |a| a.id.to_string())
    }

    /// The actor's personal inbox (`<id>/inbox`; the shared one for the instance actor).
    pub fn inbox_of(&self, name: &str) -> String {
        self.with_actor(name, |a| match a.kind {
            ActorKind::Instance => self.shared_inbox(),
            _ => format!("{}/inbox", a.id),
        })
    }

    /// The actor's `keyId`, `<id>#main-key`.
    pub fn key_id(&self, name: &str) -> String {
        self.with_actor(name, |a| format!("{}#main-key", a.id))
    }

    /// The actor's current public key (SPKI PEM), as served.
    pub fn public_key_pem(&self, name: &str) -> String {
        self.with_actor(name, |a| a.key.public_pem.clone())
    }

    /// The actor document the peer serves for `name` (as JSON, with `@context`).
    pub fn actor_document(&self, name: &str) -> Value {
        self.with_actor(name, |a| a.document(self.base()))
    }

    /// Gives the actor a new key pair; its document serves the new public key and it signs
    /// with the new private key from now on.
    pub async fn rotate_key(&self, name: &str) {
        self.with_actor(name, |_| ());
        let key = keys::fresh_key().await;
        if let Some(actor) = self.peer().lock().actor_mut(name) {
            actor.key = key;
        }
    }

    /// From now on the actor's document (and its collections) answer 410 Gone with a
    /// Tombstone, as a deleted Lemmy actor does. It can still sign deliveries.
    pub fn gone(&self, name: &str) {
        self.with_actor(name, |_| ());
        if let Some(actor) = self.peer().lock().actor_mut(name) {
            actor.gone = true;
        }
    }

    fn path_of(&self, path_or_url: &str) -> String {
        path_or_url
            .strip_prefix(self.base())
            .unwrap_or(path_or_url)
            .to_string()
    }

    /// Serves `json` at `path` (or at that URL of this peer) with `Content-Type:
    /// application/activity+json`, replacing what was there (documents win over actors);
    /// returns the full URL. For fetchable objects and activities by id.
    pub fn serve_json(&self, path: &str, json: Value) -> String {
        let path = self.path_of(path);
        self.peer().lock().docs.insert(path.clone(), json);
        self.url(&path)
    }

    /// Stops serving a document added with [`TestPeer::serve_json`].
    pub fn remove_json(&self, path: &str) {
        let path = self.path_of(path);
        self.peer().lock().docs.remove(&path);
    }

    /// How `GET`s of `path` behave from now on (status and/or delay); applies to any path,
    /// actors and served documents included. Inboxes are scripted with [`TestPeer::inbox_reply`].
    pub fn set_route_behaviour(&self, path: &str, behaviour: Behaviour) {
        let path = self.path_of(path);
        self.peer().lock().routes.insert(path, behaviour);
    }

    /// Back to normal for `path`.
    pub fn clear_route_behaviour(&self, path: &str) {
        let path = self.path_of(path);
        self.peer().lock().routes.remove(&path);
    }

    /// How many `GET`s `path` has had (to assert that a fetcher caches).
    pub fn fetch_count(&self, path: &str) -> usize {
        let path = self.path_of(path);
        self.peer().lock().fetches.get(&path).copied().unwrap_or(0)
    }

    /// The path of every `GET` so far, in arrival order.
    pub fn fetched(&self) -> Vec<String> {
        self.peer().lock().fetch_log.clone()
    }

    /// POSTs `activity` to `inbox`, signed by the actor `signer` (a name, or an actor id such
    /// as [`TestPeer::instance_actor`]) through activitypub_federation, as Lemmy does.
    /// Network failures are errors; any HTTP answer is a [`Delivery`].
    pub async fn deliver(
        &self,
        inbox: &str,
        signer: &str,
        activity: &Value,
    ) -> Result<Delivery, PeerError> {
        self.deliver_with(inbox, signer, activity, Tamper::None)
            .await
    }

    /// [`TestPeer::deliver`], spoiled as `tamper` says.
    pub async fn deliver_with(
        &self,
        inbox: &str,
        signer: &str,
        activity: &Value,
        tamper: Tamper,
    ) -> Result<Delivery, PeerError> {
        self.send(inbox, None, signer, activity, tamper).await
    }

    /// [`TestPeer::deliver`] addressed and signed for `inbox` (its `Host` included), but sent
    /// to the socket of `via` (`http://IP:PORT`): what a load balancer in front of several
    /// sluice processes serving one domain does.
    pub async fn deliver_via(
        &self,
        inbox: &str,
        via: &str,
        signer: &str,
        activity: &Value,
    ) -> Result<Delivery, PeerError> {
        self.send(inbox, Some(via), signer, activity, Tamper::None)
            .await
    }

    async fn send(
        &self,
        inbox: &str,
        via: Option<&str>,
        signer: &str,
        activity: &Value,
        tamper: Tamper,
    ) -> Result<Delivery, PeerError> {
        let signer = self.signer_named(signer, &tamper).await?;
        send::deliver(&self.inner.client, inbox, via, signer, activity, tamper).await
    }

    /// The request [`TestPeer::deliver`] would send, signed now and not sent: for load
    /// generators that sign everything before a timed run (an RSA-2048 signature costs about a
    /// millisecond of CPU; the signature stays valid for an hour). Execute it with any
    /// `reqwest::Client`.
    pub async fn signed_request(
        &self,
        inbox: &str,
        signer: &str,
        activity: &Value,
    ) -> Result<reqwest::Request, PeerError> {
        let signer = self.signer_named(signer, &Tamper::None).await?;
        send::signed_request(&self.inner.client, inbox, signer, activity, Tamper::None).await
    }

    /// Who signs for the actor `name_or_id` (with an unrelated key for
    /// [`Tamper::SignedWithWrongKey`]).
    async fn signer_named(&self, name_or_id: &str, tamper: &Tamper) -> Result<Signer, PeerError> {
        let (id, key) = {
            let st = self.peer().lock();
            let actor = st
                .actor(name_or_id)
                .ok_or_else(|| PeerError::UnknownActor(name_or_id.to_string()))?;
            (actor.id.clone(), actor.key.clone())
        };
        let key = if *tamper == Tamper::SignedWithWrongKey {
            self.inner
                .stranger
                .get_or_init(keys::fresh_key)
                .await
                .clone()
        } else {
            key
        };
        self.signer(id, key).await
    }

    /// The activitypub_federation config signing as `id` with `key` (built once, then cached).
    async fn signer(&self, id: Url, key: Arc<ActorKey>) -> Result<Signer, PeerError> {
        let cache_key = (id.to_string(), key.index);
        let cached = self.peer().lock().signers.get(&cache_key).cloned();
        let config = match cached {
            Some(c) => c,
            None => {
                let c = send::signer_config(self.domain(), &id, &key).await?;
                self.peer().lock().signers.insert(cache_key, c.clone());
                c
            }
        };
        Ok(Signer { id, key, config })
    }

    /// From now on every inbox request is answered with `reply` (drops any pending
    /// [`TestPeer::inbox_reply_next`] steps). The initial reply is [`Reply::Lemmy`].
    pub fn inbox_reply(&self, reply: Reply) {
        let mut st = self.peer().lock();
        st.inbox.steps.clear();
        st.inbox.fallback = reply;
    }

    /// The next `n` inbox requests (after those already scripted) are answered with `reply`;
    /// then the [`TestPeer::inbox_reply`] one again. E.g. `inbox_reply_next(3, Reply::Status(500))`.
    pub fn inbox_reply_next(&self, n: usize, reply: Reply) {
        self.peer().lock().inbox.steps.push_back((reply, n));
    }

    /// Requests carrying the activity `activity_id` are answered with `reply`, whatever the
    /// rest of the script says (they still use up a [`TestPeer::inbox_reply_next`] step).
    pub fn inbox_reply_for(&self, activity_id: &str, reply: Reply) {
        self.peer()
            .lock()
            .inbox
            .by_activity
            .insert(activity_id.to_string(), reply);
    }

    /// Every inbox answer waits this long first (`None`: no delay).
    pub fn inbox_delay(&self, delay: Option<Duration>) {
        self.peer().lock().inbox.delay = delay;
    }

    /// At most `n` inbox answers are worked on at once, each taking the
    /// [`TestPeer::inbox_delay`]; later requests wait for a free worker first, so beyond `n`
    /// concurrent requests the answer time grows with the queue (at `2n` it doubles).
    /// `None`: no limit.
    pub fn inbox_capacity(&self, n: Option<usize>) {
        self.peer().lock().inbox.capacity =
            n.map(|n| std::sync::Arc::new(tokio::sync::Semaphore::new(n.max(1))));
    }

    /// Every inbox request so far (since [`TestPeer::clear_received`]), in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let mut all = self.peer().lock().received.clone();
        all.sort_by_key(|r| r.seq);
        all
    }

    /// The activity ids answered 2xx, in arrival order (re-sends included).
    pub fn accepted(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .filter_map(|r| r.activity_id)
            .collect()
    }

    fn distinct_accepted(&self) -> usize {
        self.accepted().into_iter().collect::<HashSet<_>>().len()
    }

    /// Waits until `n` distinct activities were answered 2xx, then returns
    /// [`TestPeer::accepted`]; [`PeerError::NotAccepted`] after `timeout`.
    pub async fn wait_accepted(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<String>, PeerError> {
        let mut rx = self.peer().received_count.subscribe();
        let enough = async {
            loop {
                rx.borrow_and_update();
                if self.distinct_accepted() >= n {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        match tokio::time::timeout(timeout, enough).await {
            Ok(()) => Ok(self.accepted()),
            Err(_) => Err(PeerError::NotAccepted {
                wanted: n,
                got: self.distinct_accepted(),
            }),
        }
    }

    /// Forgets the recorded inbox requests.
    pub fn clear_received(&self) {
        let mut st = self.peer().lock();
        st.received.clear();
        self.peer().received_count.send_replace(0);
    }

    /// Waits until at least `n` inbox requests are recorded, then returns them all (in
    /// arrival order); [`PeerError::Timeout`] after `timeout`.
    pub async fn wait_received(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Received>, PeerError> {
        let mut rx = self.peer().received_count.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n)).await {
            Ok(Ok(_)) => Ok(self.received()),
            _ => Err(PeerError::Timeout {
                wanted: n,
                got: self.received().len(),
            }),
        }
    }

    /// Verifies requests signed by `actor_id` with `public_key_pem` (SPKI PEM) without
    /// fetching its actor document: for senders that serve none, such as a send queue tested
    /// without sluice's HTTP server.
    ///
    /// # Panics
    /// If `actor_id` is not a URL.
    pub fn trust_key(&self, actor_id: &str, public_key_pem: &str) {
        let id = Url::parse(actor_id).expect("TestPeer::trust_key wants an actor id URL");
        self.peer().federation.trust(id, public_key_pem.to_string());
    }

    /// Forgets the remote actors (and keys) fetched to verify signatures, so the next request
    /// fetches its signer again (not those given with [`TestPeer::trust_key`]).
    pub fn forget_remote_actors(&self) {
        self.peer().federation.forget();
    }

    /// Stops listening: connections are refused until [`TestPeer::restart`]; requests in
    /// flight (a [`Reply::Hang`]) are dropped.
    pub async fn stop(&self) {
        let handle = self.lock_server().take();
        if let Some(handle) = handle {
            handle.stop(false).await;
        }
    }

    /// Listens again on the same address after [`TestPeer::stop`] (no-op if running).
    ///
    /// # Panics
    /// If the address cannot be bound again within a few seconds.
    pub async fn restart(&self) {
        if self.lock_server().is_some() {
            return;
        }
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.inner.addr) {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind the test peer on {}: {e}", self.inner.addr),
            }
        };
        self.serve_on(listener);
    }
}
