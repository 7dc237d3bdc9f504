//! The signer's key, cheapest tier first:
//!
//! - **memory** (`moka`, bounded, entries expire after `key_cache_ttl`): no I/O at all;
//! - **table** (`remote_key`, one round-trip): keys survive restarts and are shared by
//!   every sluice process;
//! - **fetch**: a GET of the `keyId`'s document (the keyId without its fragment, which
//!   [`crate::verify`] has already required to be the activity's actor), signed as our
//!   instance actor so servers in authorized-fetch mode answer, through `sluice_net` (SSRF
//!   guard, size cap, timeouts). The key counts, and is stored (with the instance row, in
//!   one pipelined round-trip), only when the document is the key owner's own actor
//!   document: its `id` is the URL we fetched, its `publicKey.id` is the keyId, and the
//!   key's `owner` (when given) is that `id`.
//!
//! A keyId on our own domain is never fetched and never stored: it resolves to a local
//! actor's key (`local_key`) or to nothing.
//!
//! Fetches are budgeted (per host and globally, per minute; over budget: 503 with
//! `Retry-After`) and their failures are remembered for a while, per document (404, 410,
//! not an actor document: `failure_ttl`; timeouts and 5xx: `transient_failure_ttl`) or per
//! keyId (the document has no such key); a document fetched less than `refetch_after` ago
//! is not fetched again for a keyId it does not hold. A stranger's forged signatures cost
//! the named host at most one GET per document per interval, and never more than the
//! budget.
//!
//! Concurrent requests for the same unknown key share one lookup (moka coalesces loads). A
//! signature that fails with a stored key refetches it once, if that key is older than
//! `key_refetch_after` (the owner may have rotated it); a young key is not refetched, so bad
//! signatures cannot make us hammer a server.

use crate::Refusal;
use crate::budget::{Buckets, Global, Rate};
use futures::FutureExt;
use rsa::RsaPublicKey;
use sluice_apub::Rc;
use sluice_apub::keypair::parse_public;
use sluice_apub::signature::Signer;
use sluice_apub::urls::authority;
use sluice_db::remote_keys;
use sluice_db::{Db, DbError};
use sluice_metrics::global;
use sluice_net::{Client, NetError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// A public key and whose it is.
#[derive(Debug, Clone)]
pub struct Key {
    /// The actor that owns it.
    pub owner: String,
    /// RSA: the only kind the threadiverse signs with.
    pub key: RsaPublicKey,
    /// When it was fetched from its owner.
    pub fetched_at: SystemTime,
}

/// Where a key came from (the `tier` label of `sluice_key_lookups_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// In memory: no I/O.
    Cache,
    /// The `remote_key` table.
    Db,
    /// Fetched from its owner.
    Fetch,
    /// Fetched again after a failed verification.
    Refetch,
    /// A local actor's key (`local_key`).
    Local,
}

impl Tier {
    fn label(self) -> &'static str {
        match self {
            Tier::Cache => "cache",
            Tier::Db => "db",
            Tier::Fetch => "fetch",
            Tier::Refetch => "refetch",
            Tier::Local => "local",
        }
    }
}

/// How far a lookup may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Memory, the database, then a fetch of the owner's document.
    Fetch,
    /// Memory and the database only.
    Stored,
}

/// Counts a lookup's outcome in `sluice_key_lookups_total`.
fn counted(r: Result<(Arc<Key>, Tier), KeyError>) -> Result<(Arc<Key>, Tier), KeyError> {
    let label = match &r {
        Ok((_, tier)) => tier.label(),
        Err(KeyError::Gone) => "gone",
        Err(_) => "failed",
    };
    global().key_lookups_total.with_label_values(&[label]).inc();
    r
}

/// Why no key could be had. Cloned into the failure memory and to every request sharing
/// a lookup, so causes are shared, not copied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// Permanently unresolvable (no such key in the document, unreadable, foreign owner, a
    /// forward's signer not known).
    #[error("{0}")]
    Unknown(String),
    /// The key's document could not be had, for good (404, refused, too large, not JSON):
    /// [`NetError::is_transient`] says so.
    #[error("fetching {url}: {source}")]
    Unfetchable {
        /// The document named by the keyId.
        url: String,
        /// What the fetch met.
        #[source]
        source: NetError,
    },
    /// The key's document answered 410 Gone: the actor was deleted.
    #[error("the signer's actor is gone (410)")]
    Gone,
    /// Fetching the key's document failed in a way worth retrying later (timeout, network,
    /// 5xx: [`NetError::is_transient`]).
    #[error("fetching the key failed: {}", transient_detail(.url, .source, .remembered))]
    Transient {
        /// The document named by the keyId.
        url: String,
        /// What the fetch met.
        #[source]
        source: NetError,
        /// Answered from the failure memory, which holds it this much longer.
        remembered: Option<Duration>,
    },
    /// The key fetch budget (per host or global) is spent: retry after this long.
    #[error("too many key fetches right now; retry in {} s", .0.as_secs().max(1))]
    Busy(Duration),
    /// Our database failed the lookup or the store: 503 whatever its trouble, as the key
    /// may well be had later.
    #[error("database unavailable: {0}")]
    Database(#[source] Arc<DbError>),
}

fn transient_detail(url: &str, source: &NetError, remembered: &Option<Duration>) -> String {
    match remembered {
        Some(left) => format!(
            "{url}: {source} (remembered; retry in {} s)",
            left.as_secs().max(1)
        ),
        None => format!("{url}: {source}"),
    }
}

impl From<DbError> for KeyError {
    fn from(e: DbError) -> Self {
        KeyError::Database(Arc::new(e))
    }
}

/// A key we cannot have is 401 (`KeyUnknown`) when it never will be, 503 (`KeyFetchFailed`,
/// `DatabaseUnavailable`) when the owner's server or our database may answer later.
impl From<KeyError> for Refusal {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unknown(m) => Refusal::new(Rc::KeyUnknown, m),
            e @ KeyError::Unfetchable { .. } => Refusal::new(Rc::KeyUnknown, e.to_string()),
            KeyError::Gone => Refusal::new(
                Rc::KeyUnknown,
                "the signer's actor is gone (410); only a Delete of that actor is accepted",
            ),
            KeyError::Transient {
                url,
                source,
                remembered,
            } => {
                let r = Refusal::new(
                    Rc::KeyFetchFailed,
                    transient_detail(&url, &source, &remembered),
                );
                // While the failure is remembered, a retry gets the same answer.
                match remembered {
                    Some(left) => r.retry_after(left),
                    None => r,
                }
            }
            e @ KeyError::Busy(wait) => {
                Refusal::new(Rc::KeyFetchFailed, e.to_string()).retry_after(wait)
            }
            KeyError::Database(_) => Refusal::database_unavailable(),
        }
    }
}

/// How the key store behaves.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// Our domain (`host[:port]`): keyIds there resolve to local keys only.
    pub local_domain: String,
    /// Keys held in memory.
    pub cache_size: u64,
    /// How long a key stays in memory.
    pub cache_ttl: Duration,
    /// A key older than this is refetched once when a signature fails with it.
    pub refetch_after: Duration,
    /// Key fetches per minute, all hosts together.
    pub fetch_per_minute: u64,
    /// Key fetches per minute to one host.
    pub fetch_per_host_per_minute: u64,
    /// How long a permanent fetch failure (404, 410, not the owner's document, no such
    /// key) is remembered.
    pub failure_ttl: Duration,
    /// How long a transient fetch failure (timeout, network, 5xx) is remembered.
    pub transient_failure_ttl: Duration,
}

/// A remembered failure.
#[derive(Debug, Clone)]
struct Failure {
    error: KeyError,
    until: Instant,
}

/// The tiers, with the failure memory and the fetch budgets in front of the last.
pub struct KeyStore {
    cache: moka::future::Cache<String, Arc<Key>>,
    /// Failures by `d <document URL>` or `k <keyId>`.
    failures: moka::sync::Cache<String, Failure>,
    /// Documents fetched in the last `refetch_after`, with the keyIds they hold: a keyId
    /// they do not hold is not worth another GET yet (forgers inventing fragments).
    recent: moka::sync::Cache<String, (Instant, Arc<Vec<String>>)>,
    db: Db,
    net: Client,
    signer: Signer,
    settings: KeySettings,
    per_host: Buckets,
    all_hosts: Global,
}

impl KeyStore {
    /// A store with a bounded, expiring memory tier.
    pub fn new(db: Db, net: Client, signer: Signer, settings: KeySettings) -> Self {
        let longest = settings.failure_ttl.max(settings.transient_failure_ttl);
        KeyStore {
            cache: moka::future::Cache::builder()
                .max_capacity(settings.cache_size)
                .time_to_live(settings.cache_ttl)
                .build(),
            failures: moka::sync::Cache::builder()
                .max_capacity(settings.cache_size.max(1))
                .time_to_live(longest.max(Duration::from_millis(1)))
                .build(),
            recent: moka::sync::Cache::builder()
                .max_capacity(settings.cache_size.max(1))
                .time_to_live(settings.refetch_after.max(Duration::from_millis(1)))
                .build(),
            db,
            net,
            signer,
            per_host: Buckets::new(
                Rate::per_minute(settings.fetch_per_host_per_minute),
                100_000,
            ),
            all_hosts: Global::new(Rate::per_minute(settings.fetch_per_minute)),
            settings,
        }
    }

    /// The key `key_id`, from the cheapest tier that has it; `doc` is the document the
    /// keyId names ([`key_document`]).
    pub async fn get(&self, key_id: &str, doc: &Url) -> Result<(Arc<Key>, Tier), KeyError> {
        let tier = std::sync::Mutex::new(Tier::Cache);
        let entry = self
            .cache
            .entry_by_ref(key_id)
            .or_try_insert_with(async {
                let (key, t) = self.load(key_id, doc, Reach::Fetch).await?;
                *tier.lock().unwrap_or_else(|p| p.into_inner()) = t;
                Ok::<_, KeyError>(Arc::new(key))
            })
            .await
            .map_err(|e: Arc<KeyError>| (*e).clone());
        let tier = *tier.lock().unwrap_or_else(|p| p.into_inner());
        counted(entry.map(|e| (e.into_value(), tier)))
    }

    /// The key `key_id` only if it is already known (memory, `remote_key`, or a local key):
    /// never fetched. For signers that are not the activity's actor (forwarded
    /// activities): a forward must not make us fetch a document it names, or any stranger
    /// could aim our GETs at any path of any host again.
    pub async fn known(&self, key_id: &str, doc: &Url) -> Result<(Arc<Key>, Tier), KeyError> {
        if let Some(k) = self.cache.get(key_id).await {
            return counted(Ok((k, Tier::Cache)));
        }
        let loaded = match self.load(key_id, doc, Reach::Stored).await {
            Ok((key, tier)) => {
                let key = Arc::new(key);
                self.cache.insert(key_id.to_string(), key.clone()).await;
                Ok((key, tier))
            }
            Err(e) => Err(e),
        };
        counted(loaded)
    }

    /// Whether `url` is on our own domain.
    pub fn is_local(&self, url: &Url) -> bool {
        authority(url) == self.settings.local_domain
    }

    /// After a failed verification with `used`: fetches the key again when `used` is old
    /// enough to have been rotated since. `None`: not refetched (the failure stands).
    pub async fn refetch(
        &self,
        key_id: &str,
        used: &Key,
        doc: &Url,
    ) -> Option<Result<Arc<Key>, KeyError>> {
        let age = SystemTime::now()
            .duration_since(used.fetched_at)
            .unwrap_or_default();
        if age < self.settings.refetch_after {
            return None;
        }
        let r = self.fetch(key_id, doc).await.map(Arc::new);
        match &r {
            Ok(k) => {
                self.cache.insert(key_id.to_string(), k.clone()).await;
                global()
                    .key_lookups_total
                    .with_label_values(&[Tier::Refetch.label()])
                    .inc();
            }
            Err(_) => {
                self.cache.invalidate(key_id).await;
                global()
                    .key_lookups_total
                    .with_label_values(&["failed"])
                    .inc();
            }
        }
        Some(r)
    }

    /// Local keys for our domain; else the database, then (if `reach` allows) a fetch.
    async fn load(&self, key_id: &str, doc: &Url, reach: Reach) -> Result<(Key, Tier), KeyError> {
        if authority(doc) == self.settings.local_domain {
            return self.local(key_id, doc).await;
        }
        // A permanent failure (the document is gone or is not the owner's, or lacks this
        // keyId) makes any stored copy stale: refused without a round-trip. A transient one
        // does not: the stored key may be good, so the database is asked first.
        if let Some(e) = self.remembered(key_id, doc)
            && !matches!(e, KeyError::Transient { .. })
        {
            return Err(e);
        }
        let id = key_id.to_string();
        let stored = self
            .db
            .run("remote_key_get", move |c| {
                async move { remote_keys::get(c, &id).await }.boxed()
            })
            .await;
        if let Some(k) = stored?
            && let Some(key) = parse_public(&k.public_key_pem)
        {
            return Ok((
                Key {
                    owner: k.owner_ap_id,
                    key,
                    fetched_at: k.fetched_at.into(),
                },
                Tier::Db,
            ));
        }
        match reach {
            Reach::Fetch => Ok((self.fetch(key_id, doc).await?, Tier::Fetch)),
            Reach::Stored => Err(KeyError::Unknown(format!(
                "the key {key_id} is not known here, and a forwarded activity's signer is \
                 never fetched: its key must have been learned from its own signed activities"
            ))),
        }
    }

    /// A keyId on our domain: a local actor's key, or nothing. Never fetched, never stored
    /// in `remote_key`. Misses are remembered like fetch failures.
    async fn local(&self, key_id: &str, doc: &Url) -> Result<(Key, Tier), KeyError> {
        if let Some(e) = self.remembered(key_id, doc) {
            return Err(e);
        }
        let row = sluice_db::actors::local_key(&self.db, doc.as_str()).await?;
        let key = row
            .filter(|r| r.key_id == key_id)
            .and_then(|r| Some((parse_public(&r.public_key_pem)?, r.actor_ap_id)));
        match key {
            Some((key, owner)) => Ok((
                Key {
                    owner,
                    key,
                    fetched_at: SystemTime::now(),
                },
                Tier::Local,
            )),
            None => {
                let e = KeyError::Unknown(format!("no local actor has the key {key_id}"));
                self.remember(format!("k {key_id}"), &e);
                Err(e)
            }
        }
    }

    /// A failure remembered for this keyId or its document, if still fresh; or, for a
    /// document fetched moments ago that does not hold this keyId, a wait (503, so an
    /// owner who has just published a new keyId is retried, not dropped).
    fn remembered(&self, key_id: &str, doc: &Url) -> Option<KeyError> {
        let now = Instant::now();
        if let Some((at, held)) = self.recent.get(doc.as_str())
            && !held.iter().any(|k| k == key_id)
        {
            let wait = (at + self.settings.refetch_after).saturating_duration_since(now);
            if !wait.is_zero() {
                return Some(KeyError::Busy(wait));
            }
        }
        [format!("k {key_id}"), format!("d {doc}")]
            .into_iter()
            .find_map(|k| self.failures.get(&k).filter(|f| f.until > now))
            .map(|f| match f.error {
                KeyError::Transient { url, source, .. } => KeyError::Transient {
                    url,
                    source,
                    remembered: Some(f.until.saturating_duration_since(now)),
                },
                e => e,
            })
    }

    fn remember(&self, what: String, e: &KeyError) {
        let ttl = match e {
            KeyError::Transient { .. } => self.settings.transient_failure_ttl,
            KeyError::Unknown(_) | KeyError::Unfetchable { .. } | KeyError::Gone => {
                self.settings.failure_ttl
            }
            KeyError::Busy(_) | KeyError::Database(_) => return,
        };
        self.failures.insert(
            what,
            Failure {
                error: e.clone(),
                until: Instant::now() + ttl,
            },
        );
    }

    /// Takes a fetch token for `host` (and one of the global budget).
    fn spend_budget(&self, host: &str) -> Result<(), KeyError> {
        self.per_host.take(host).map_err(KeyError::Busy)?;
        if let Err(wait) = self.all_hosts.take() {
            self.per_host.give_back(host);
            return Err(KeyError::Busy(wait));
        }
        Ok(())
    }

    /// Fetches the key's document and stores the key, if the document is its owner's.
    async fn fetch(&self, key_id: &str, doc: &Url) -> Result<Key, KeyError> {
        let url = doc.clone();
        if authority(&url) == self.settings.local_domain {
            return Err(KeyError::Unknown(format!(
                "{key_id} is on our own domain and is never fetched"
            )));
        }
        if let Some(e) = self.remembered(key_id, &url) {
            return Err(e);
        }
        let host = authority(&url);
        self.spend_budget(&host)?;
        let doc = match self.net.fetch_json(&url, &self.signer).await {
            Ok(doc) => doc,
            Err(e) => {
                let e = match e {
                    NetError::Status(410) => KeyError::Gone,
                    source if source.is_transient() => KeyError::Transient {
                        url: url.to_string(),
                        source,
                        remembered: None,
                    },
                    source => KeyError::Unfetchable {
                        url: url.to_string(),
                        source,
                    },
                };
                self.remember(format!("d {url}"), &e);
                return Err(e);
            }
        };
        if doc.get("id").and_then(|v| v.as_str()) != Some(url.as_str()) {
            let e = KeyError::Unknown(format!(
                "the document at {url} is not the actor {url} (its id differs)"
            ));
            self.remember(format!("d {url}"), &e);
            return Err(e);
        }
        self.recent
            .insert(url.to_string(), (Instant::now(), Arc::new(key_ids(&doc))));
        let found = match find_key(&doc, key_id).and_then(|k| {
            let key = parse_public(&k.pem).ok_or_else(|| {
                KeyError::Unknown(format!("the key {key_id} is not a readable RSA public key"))
            })?;
            Ok((k, key))
        }) {
            Ok(found) => found,
            Err(e) => {
                self.remember(format!("k {key_id}"), &e);
                return Err(e);
            }
        };
        let (found, key) = found;
        let shared_inbox = doc
            .pointer("/endpoints/sharedInbox")
            .and_then(|v| v.as_str())
            .filter(|s| Url::parse(s).is_ok_and(|u| authority(&u) == host))
            .map(str::to_string);
        let (kid, owner, pem) = (key_id.to_string(), found.owner.clone(), found.pem.clone());
        self.db
            .run("remote_key_store", move |c| {
                async move {
                    let c: &sluice_db::diesel_async::AsyncPgConnection = c;
                    futures::try_join!(
                        remote_keys::store(c, &kid, &owner, &pem),
                        remote_keys::seen_instance(c, &host, shared_inbox.as_deref()),
                    )
                    .map(|_| ())
                }
                .boxed()
            })
            .await?;
        Ok(Key {
            owner: found.owner,
            key,
            fetched_at: SystemTime::now(),
        })
    }
}

/// The keyId's document: the keyId without its fragment.
pub fn document_of(key_id: &str) -> Result<Url, KeyError> {
    let mut u = Url::parse(key_id)
        .map_err(|_| KeyError::Unknown(format!("keyId {key_id:?} is not a URL")))?;
    u.set_fragment(None);
    Ok(u)
}

/// The document whose key a keyId names, for an activity by `actor`: the keyId without its
/// fragment (`<actor>#main-key`, Lemmy's and Mastodon's form); or `actor` itself when the
/// keyId is one path segment directly under it (`<actor>/main-key`, GoToSocial's form): its
/// own document must then list the key under that id, owned by itself (`find_key`), so
/// such a keyId still makes us fetch nothing but the actor the activity names.
pub fn key_document(key_id: &str, actor: &Url) -> Result<Url, KeyError> {
    let doc = document_of(key_id)?;
    let under_actor = actor.query().is_none()
        && actor.fragment().is_none()
        && doc.query().is_none()
        && doc
            .as_str()
            .strip_prefix(actor.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|segment| !segment.is_empty() && !segment.contains('/'));
    Ok(if under_actor { actor.clone() } else { doc })
}

struct FoundKey {
    owner: String,
    pem: String,
}

/// Every `publicKey.id` of a document.
fn key_ids(doc: &serde_json::Value) -> Vec<String> {
    let id = |k: &serde_json::Value| k.get("id")?.as_str().map(str::to_string);
    match doc.get("publicKey") {
        Some(serde_json::Value::Array(keys)) => keys.iter().filter_map(id).take(16).collect(),
        Some(k) => id(k).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The key `key_id` in its owner's actor document (whose `id` the caller has checked):
/// a `publicKey` (object, or array of them) with that `id`, whose `owner`, when given, is
/// the document itself. A bare key document (`{id, owner, publicKeyPem}` at its own URL)
/// is not accepted: the key must come from the owner's own actor document.
fn find_key(doc: &serde_json::Value, key_id: &str) -> Result<FoundKey, KeyError> {
    let actor_id = doc.get("id").and_then(|v| v.as_str());
    let from_key = |k: &serde_json::Value| -> Option<FoundKey> {
        if k.get("id")?.as_str()? != key_id {
            return None;
        }
        let actor = actor_id?;
        let owner = k.get("owner").and_then(|o| o.as_str()).unwrap_or(actor);
        if owner != actor {
            return None;
        }
        let pem = k.get("publicKeyPem")?.as_str()?.to_string();
        Some(FoundKey {
            owner: owner.to_string(),
            pem,
        })
    };
    let found = match doc.get("publicKey") {
        Some(serde_json::Value::Array(keys)) => keys.iter().find_map(from_key),
        Some(k) => from_key(k),
        None => None,
    };
    found.ok_or_else(|| {
        KeyError::Unknown(format!(
            "the actor document has no key {key_id:?} owned by itself"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_found_only_in_their_owners_actor_document() {
        let actor = json!({"id": "https://a.example/u/x", "publicKey": {
            "id": "https://a.example/u/x#main-key", "owner": "https://a.example/u/x",
            "publicKeyPem": "PEM"}});
        let k = find_key(&actor, "https://a.example/u/x#main-key").unwrap();
        assert_eq!(
            (k.owner.as_str(), k.pem.as_str()),
            ("https://a.example/u/x", "PEM")
        );
        assert!(find_key(&actor, "https://a.example/u/x#other").is_err());

        let arr = json!({"id": "https://a.example/u/x", "publicKey": [
            {"id": "k1", "publicKeyPem": "P1"}, {"id": "k2", "publicKeyPem": "P2"}]});
        let k = find_key(&arr, "k2").unwrap();
        assert_eq!(
            (k.owner.as_str(), k.pem.as_str()),
            ("https://a.example/u/x", "P2")
        );

        // A key owned by someone else, even on the same host: not this actor's key.
        let foreign = json!({"id": "https://a.example/u/x", "publicKey": {
            "id": "https://a.example/u/x#main-key", "owner": "https://a.example/u/mallory",
            "publicKeyPem": "PEM"}});
        assert!(find_key(&foreign, "https://a.example/u/x#main-key").is_err());

        // A bare key document is not an actor document.
        let key_doc = json!({"id": "https://a.example/u/x/main-key",
            "owner": "https://a.example/u/x", "publicKeyPem": "P"});
        assert!(find_key(&key_doc, "https://a.example/u/x/main-key").is_err());
    }

    #[test]
    fn key_errors_refuse_with_their_codes_and_keep_their_causes() {
        use std::error::Error as _;
        let url = "https://a.example/u/x".to_string();
        let slow = KeyError::Transient {
            url: url.clone(),
            source: NetError::Timeout,
            remembered: Some(Duration::from_millis(2500)),
        };
        assert!(slow.source().is_some_and(|s| s.is::<NetError>()));
        let r = Refusal::from(slow);
        assert_eq!((r.rc, r.status().as_u16()), (Rc::KeyFetchFailed, 503));
        assert_eq!(
            r.message,
            "https://a.example/u/x: timed out (remembered; retry in 2 s)"
        );
        assert_eq!(r.retry_after, Some(Duration::from_millis(2500)));
        let missing = KeyError::Unfetchable {
            url,
            source: NetError::Status(404),
        };
        let r = Refusal::from(missing);
        assert_eq!((r.rc, r.status().as_u16()), (Rc::KeyUnknown, 401));
        assert_eq!(r.message, "fetching https://a.example/u/x: HTTP 404");
        let db = KeyError::from(DbError::Unavailable("down".into()));
        assert_eq!(
            db.source().map(|s| s.to_string()).as_deref(),
            Some("database unavailable: down")
        );
        assert_eq!(Refusal::from(db).rc, Rc::DatabaseUnavailable);
    }

    #[test]
    fn a_keys_document_is_the_key_id_without_its_fragment() {
        assert_eq!(
            document_of("https://a.example/u/x#main-key")
                .unwrap()
                .as_str(),
            "https://a.example/u/x"
        );
        assert!(document_of("not a url").is_err());
    }

    #[test]
    fn a_key_names_its_fragmentless_document_or_the_actor_one_segment_up() {
        let actor = Url::parse("https://g.example/users/gina").unwrap();
        let doc = |k: &str| key_document(k, &actor).unwrap().to_string();
        assert_eq!(doc("https://g.example/users/gina#main-key"), actor.as_str());
        assert_eq!(doc("https://g.example/users/gina/main-key"), actor.as_str());
        // Anything else names its own document (a forward's signer, never fetched for it).
        for other in [
            "https://g.example/users/gina/keys/main-key",
            "https://g.example/users/gina/main-key?x=1",
            "https://g.example/users/ginax/main-key",
            "https://h.example/users/gina/main-key",
            "https://g.example/users/gina/",
        ] {
            assert_eq!(
                doc(other),
                document_of(other).unwrap().to_string(),
                "{other}"
            );
        }
    }
}
