//! What the peer knows and records, shared by the test's handle and the HTTP handlers.

use super::actors::{ActorKind, LocalActor};
use super::verify::PeerData;
use activitypub_federation::config::FederationConfig;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Per-path behaviour of document requests (`GET`), set with
/// [`TestPeer::set_route_behaviour`](super::TestPeer::set_route_behaviour).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Answer this status (with a small JSON error body) instead of the document.
    pub status: Option<u16>,
    /// Wait this long before answering (to provoke the fetcher's timeout).
    pub delay: Option<Duration>,
}

/// How the inbox answers a delivery (see [`TestPeer::inbox_reply`](super::TestPeer::inbox_reply)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// What Lemmy does: 200 when the HTTP signature verifies for the activity's `actor`,
    /// 400 otherwise. The default.
    Lemmy,
    /// This status (e.g. 202, 400, 500), whatever the signature.
    Status(u16),
    /// 429 Too Many Requests with this `Retry-After` value (seconds, or an HTTP date).
    TooManyRequests {
        /// The `Retry-After` header value.
        retry_after: String,
    },
    /// Never answer: the sender's timeout fires. The request is still recorded.
    Hang,
}

/// The inbox's script: scripted replies first, in order, then the fallback; a reply set for
/// one activity wins over both.
#[derive(Debug)]
pub(crate) struct InboxScript {
    pub(crate) steps: VecDeque<(Reply, usize)>,
    pub(crate) by_activity: HashMap<String, Reply>,
    pub(crate) fallback: Reply,
    pub(crate) delay: Option<Duration>,
    /// Answers served at once (the others wait for a slot before their delay).
    pub(crate) capacity: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl InboxScript {
    /// The reply for the next request (consumes one scripted step).
    pub(crate) fn next(&mut self) -> Reply {
        while let Some((reply, left)) = self.steps.front_mut() {
            if *left == 0 {
                self.steps.pop_front();
                continue;
            }
            *left -= 1;
            return reply.clone();
        }
        self.fallback.clone()
    }
}

/// One request that arrived at one of the peer's inboxes.
#[derive(Clone, Debug)]
pub struct Received {
    /// Arrival order on this peer, from 0 (counted when the request starts, so it is the order
    /// in which the sender's requests arrived, even when their verification finishes out of order).
    pub seq: u64,
    /// When the request started (for lower bounds on a sender's waits, such as `Retry-After`).
    pub at: Instant,
    /// `POST`.
    pub method: String,
    /// `/inbox`, `/u/NAME/inbox` or `/c/NAME/inbox`.
    pub path: String,
    /// Request headers, names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8; empty when it could not be read).
    pub body: String,
    /// The body as JSON, if it is JSON.
    pub json: Option<Value>,
    /// The activity's `id`.
    pub activity_id: Option<String>,
    /// The activity's `type`.
    pub activity_type: Option<String>,
    /// The activity's `actor` (its `id` when it is an object).
    pub actor: Option<String>,
    /// The `Signature` header's `keyId`.
    pub key_id: Option<String>,
    /// The actor named by the `keyId` (the part before `#`).
    pub signer: Option<String>,
    /// activitypub_federation checked the `Digest` against the body and the signature against
    /// the signer's key, fetched from its actor document over HTTP, and both held.
    pub verified: bool,
    /// Why verification failed (activitypub_federation's error, or ours for fetch problems).
    pub verify_error: Option<String>,
    /// The status the peer answered (or will answer, after its delay). 0 for [`Reply::Hang`].
    pub status: u16,
}

impl Received {
    /// What Lemmy would accept: the signature verified and the signer is the activity's actor.
    pub fn is_authentic(&self) -> bool {
        self.verified && self.signer.is_some() && self.signer == self.actor
    }
}

/// Mutable state, behind one mutex (never held across an await).
pub(crate) struct State {
    /// By path (`/u/alice`, `/c/main`, `/`).
    pub(crate) actors: HashMap<String, LocalActor>,
    /// Documents served verbatim, by path.
    pub(crate) docs: HashMap<String, Value>,
    /// Per-path behaviour of `GET`s.
    pub(crate) routes: HashMap<String, Behaviour>,
    /// `GET`s per path.
    pub(crate) fetches: HashMap<String, usize>,
    /// Every `GET`'s path, in arrival order.
    pub(crate) fetch_log: Vec<String>,
    pub(crate) inbox: InboxScript,
    pub(crate) received: Vec<Received>,
    /// activitypub_federation configs that sign as one actor with one key, by (actor id, key index).
    pub(crate) signers: HashMap<(String, usize), FederationConfig<PeerData>>,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            actors: HashMap::new(),
            docs: HashMap::new(),
            routes: HashMap::new(),
            fetches: HashMap::new(),
            fetch_log: Vec::new(),
            inbox: InboxScript {
                steps: VecDeque::new(),
                by_activity: HashMap::new(),
                fallback: Reply::Lemmy,
                delay: None,
                capacity: None,
            },
            received: Vec::new(),
            signers: HashMap::new(),
        }
    }

    /// The actor with this name (person, group or the instance actor's name), or this id.
    pub(crate) fn actor(&self, name_or_id: &str) -> Option<&LocalActor> {
        self.actors
            .values()
            .find(|a| a.id.as_str() == name_or_id || a.name == name_or_id)
    }

    pub(crate) fn actor_mut(&mut self, name_or_id: &str) -> Option<&mut LocalActor> {
        self.actors
            .values_mut()
            .find(|a| a.id.as_str() == name_or_id || a.name == name_or_id)
    }

    /// The person or group served at `/u/NAME` or `/c/NAME`.
    pub(crate) fn actor_at(&self, path: &str) -> Option<&LocalActor> {
        self.actors.get(path)
    }

    /// Finds `kind`'s actor called `name` for webfinger.
    pub(crate) fn by_kind(&self, kind: ActorKind, name: &str) -> Option<&LocalActor> {
        self.actors.get(&kind.path(name))
    }
}

/// The peer itself (its address, what it knows and records, how it verifies), shared by the
/// HTTP handlers and every [`TestPeer`](super::TestPeer) handle on it.
pub(crate) struct Peer {
    /// `IP:PORT`.
    pub(crate) domain: String,
    /// `http://IP:PORT`.
    pub(crate) base: String,
    pub(crate) state: Mutex<State>,
    /// Next inbox arrival number.
    pub(crate) seq: AtomicU64,
    /// Number of records in `state.received`, for waiters.
    pub(crate) received_count: watch::Sender<usize>,
    /// The receiving side's activitypub_federation configuration.
    pub(crate) federation: FederationConfig<PeerData>,
}

impl Peer {
    /// The state; a panic elsewhere while holding the lock does not poison the peer.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
