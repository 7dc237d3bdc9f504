//! Verify, step 2: the signer's key, cheapest first.
//!
//! 1. **memory** (`moka`, bounded, entries expire after `key_cache_ttl`): no I/O at all;
//! 2. **database** (`remote_key`, one round-trip): keys survive restarts and are shared by
//!    every sluice process;
//! 3. **fetch**: a GET of the `keyId` URL (fragment removed), signed as our instance actor
//!    so servers in authorized-fetch mode answer, through `sluice_net` (SSRF guard, size cap,
//!    timeouts); the key is stored (and the instance row noted) in one pipelined round-trip.
//!
//! Concurrent requests for the same unknown key share one lookup (moka coalesces loads). A
//! signature that fails with a stored key refetches it once, if that key is older than
//! `key_refetch_after` (the owner may have rotated it); a young key is not refetched, so bad
//! signatures cannot make us hammer a server.

use futures::FutureExt;
use rsa::RsaPublicKey;
use sluice_apub::keys::parse_public;
use sluice_apub::signature::Signer;
use sluice_apub::urls::authority;
use sluice_db::remote_keys;
use sluice_db::{Db, DbError};
use sluice_metrics::global;
use sluice_net::{Client, NetError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use url::Url;

/// A resolved key.
#[derive(Debug, Clone)]
pub struct Key {
    /// The actor that owns it.
    pub owner: String,
    /// The key.
    pub key: RsaPublicKey,
    /// When it was fetched from its owner.
    pub fetched_at: SystemTime,
}

/// Where a key came from (the `tier` label of `sluice_key_lookups_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Memory.
    Cache,
    /// `remote_key`.
    Db,
    /// Fetched from its owner.
    Fetch,
    /// Fetched again after a failed verification.
    Refetch,
}

impl Tier {
    fn label(self) -> &'static str {
        match self {
            Tier::Cache => "cache",
            Tier::Db => "db",
            Tier::Fetch => "fetch",
            Tier::Refetch => "refetch",
        }
    }
}

/// Why no key could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Permanently unresolvable (404, no such key in the document, unreadable, foreign owner).
    #[error("{0}")]
    Unknown(String),
    /// The key's document answered 410 Gone: the actor was deleted.
    #[error("the signer's actor is gone (410)")]
    Gone,
    /// Worth retrying later (timeout, network, 5xx).
    #[error("fetching the key failed: {0}")]
    Transient(String),
    /// Our database.
    #[error("database unavailable: {0}")]
    Database(String),
}

impl From<DbError> for KeyError {
    fn from(e: DbError) -> Self {
        KeyError::Database(e.to_string())
    }
}

/// The three tiers.
pub struct KeyStore {
    cache: moka::future::Cache<String, Arc<Key>>,
    db: Db,
    net: Client,
    signer: Signer,
    refetch_after: Duration,
}

impl KeyStore {
    /// A store with a bounded, expiring memory tier.
    pub fn new(
        db: Db,
        net: Client,
        signer: Signer,
        size: u64,
        ttl: Duration,
        refetch_after: Duration,
    ) -> Self {
        KeyStore {
            cache: moka::future::Cache::builder()
                .max_capacity(size)
                .time_to_live(ttl)
                .build(),
            db,
            net,
            signer,
            refetch_after,
        }
    }

    /// The key `key_id`, from the cheapest tier that has it. `trips` collects the database
    /// round-trips this call paid.
    pub async fn get(&self, key_id: &str, trips: &AtomicU64) -> Result<(Arc<Key>, Tier), KeyError> {
        let tier = std::sync::Mutex::new(Tier::Cache);
        let entry = self
            .cache
            .entry_by_ref(key_id)
            .or_try_insert_with(async {
                let (key, t) = self.load(key_id, trips).await?;
                *tier.lock().unwrap_or_else(|p| p.into_inner()) = t;
                Ok::<_, KeyError>(Arc::new(key))
            })
            .await
            .map_err(|e: Arc<KeyError>| (*e).clone());
        let tier = *tier.lock().unwrap_or_else(|p| p.into_inner());
        match entry {
            Ok(e) => {
                global()
                    .key_lookups_total
                    .with_label_values(&[tier.label()])
                    .inc();
                Ok((e.into_value(), tier))
            }
            Err(e) => {
                let label = if e == KeyError::Gone {
                    "gone"
                } else {
                    "failed"
                };
                global().key_lookups_total.with_label_values(&[label]).inc();
                Err(e)
            }
        }
    }

    /// After a failed verification with `used`: fetches the key again when `used` is old
    /// enough to have been rotated since. `None`: not refetched (the failure stands).
    pub async fn refetch(
        &self,
        key_id: &str,
        used: &Key,
        trips: &AtomicU64,
    ) -> Option<Result<Arc<Key>, KeyError>> {
        let age = SystemTime::now()
            .duration_since(used.fetched_at)
            .unwrap_or_default();
        if age < self.refetch_after {
            return None;
        }
        let r = self.fetch(key_id, trips).await.map(Arc::new);
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

    /// Database, then fetch.
    async fn load(&self, key_id: &str, trips: &AtomicU64) -> Result<(Key, Tier), KeyError> {
        let id = key_id.to_string();
        let mut conn = self.db.get().await?;
        let before = conn.wire_roundtrips();
        let stored = conn
            .run("remote_key_get", move |c| {
                async move { remote_keys::get(c, &id).await }.boxed()
            })
            .await;
        trips.fetch_add(
            conn.wire_roundtrips().saturating_sub(before),
            Ordering::Relaxed,
        );
        drop(conn);
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
        Ok((self.fetch(key_id, trips).await?, Tier::Fetch))
    }

    /// Fetches the key's document and stores the key.
    async fn fetch(&self, key_id: &str, trips: &AtomicU64) -> Result<Key, KeyError> {
        let mut url = Url::parse(key_id)
            .map_err(|_| KeyError::Unknown(format!("keyId {key_id:?} is not a URL")))?;
        url.set_fragment(None);
        let doc = self
            .net
            .fetch_json(&url, &self.signer)
            .await
            .map_err(|e| match e {
                NetError::Status(410) => KeyError::Gone,
                e if e.is_transient() => KeyError::Transient(format!("{url}: {e}")),
                e => KeyError::Unknown(format!("fetching {url}: {e}")),
            })?;
        let found = find_key(&doc, key_id)?;
        let host = authority(&url);
        let owner_url = Url::parse(&found.owner)
            .map_err(|_| KeyError::Unknown(format!("key owner {:?} is not a URL", found.owner)))?;
        if authority(&owner_url) != host {
            return Err(KeyError::Unknown(format!(
                "the key {key_id} claims an owner on another host ({})",
                found.owner
            )));
        }
        let key = parse_public(&found.pem).ok_or_else(|| {
            KeyError::Unknown(format!("the key {key_id} is not a readable RSA public key"))
        })?;
        let shared_inbox = doc
            .pointer("/endpoints/sharedInbox")
            .and_then(|v| v.as_str())
            .filter(|s| Url::parse(s).is_ok_and(|u| authority(&u) == host))
            .map(str::to_string);
        let (kid, owner, pem) = (key_id.to_string(), found.owner.clone(), found.pem.clone());
        let mut conn = self.db.get().await?;
        let before = conn.wire_roundtrips();
        let stored = conn
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
            .await;
        trips.fetch_add(
            conn.wire_roundtrips().saturating_sub(before),
            Ordering::Relaxed,
        );
        stored?;
        Ok(Key {
            owner: found.owner,
            key,
            fetched_at: SystemTime::now(),
        })
    }
}

struct FoundKey {
    owner: String,
    pem: String,
}

/// The key `key_id` in a fetched document: an actor whose `publicKey` (object or array)
/// has that id, or the key object itself (`{id, owner, publicKeyPem}`).
fn find_key(doc: &serde_json::Value, key_id: &str) -> Result<FoundKey, KeyError> {
    let from_key = |k: &serde_json::Value, default_owner: Option<&str>| -> Option<FoundKey> {
        if k.get("id")?.as_str()? != key_id {
            return None;
        }
        let owner = k
            .get("owner")
            .and_then(|o| o.as_str())
            .or(default_owner)?
            .to_string();
        let pem = k.get("publicKeyPem")?.as_str()?.to_string();
        Some(FoundKey { owner, pem })
    };
    let actor_id = doc.get("id").and_then(|v| v.as_str());
    let found = match doc.get("publicKey") {
        Some(serde_json::Value::Array(keys)) => keys.iter().find_map(|k| from_key(k, actor_id)),
        Some(k) => from_key(k, actor_id),
        None => from_key(doc, None),
    };
    found.ok_or_else(|| {
        KeyError::Unknown(format!("the document at the keyId has no key {key_id:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_found_in_actors_arrays_and_key_documents() {
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

        let key_doc = json!({"id": "https://a.example/u/x/main-key",
            "owner": "https://a.example/u/x", "publicKeyPem": "P"});
        assert!(find_key(&key_doc, "https://a.example/u/x/main-key").is_ok());
    }
}
