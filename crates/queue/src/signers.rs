//! Signing keys of local actors, parsed once.
//!
//! Every delivery is signed as its activity's local actor. Parsing a PKCS#8 RSA key costs
//! far more than signing with it, and the set of local actors that send is small and stable,
//! so each key is read from `local_key` and parsed on first use, then kept (bounded).

use sluice_apub::signature::Signer;
use sluice_db::{Db, DbError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most keys kept; beyond it the cache starts over (local actors are few in practice).
const CAPACITY: usize = 10_000;

/// The cache of parsed local keys.
pub struct Signers {
    db: Db,
    cache: Mutex<HashMap<String, Arc<Signer>>>,
}

impl Signers {
    /// An empty cache over `db`.
    pub fn new(db: Db) -> Self {
        Signers {
            db,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The signer of local actor `actor_ap_id`, or `None` when it has no usable key.
    pub async fn get(&self, actor_ap_id: &str) -> Result<Option<Arc<Signer>>, DbError> {
        if let Some(s) = self.lock().get(actor_ap_id) {
            return Ok(Some(s.clone()));
        }
        let Some(key) = sluice_db::actors::local_key(&self.db, actor_ap_id).await? else {
            return Ok(None);
        };
        let signer = match Signer::from_pem(&key.key_id, &key.private_key_pem) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::error!(actor = actor_ap_id, error = %e, "unreadable local key");
                return Ok(None);
            }
        };
        let mut cache = self.lock();
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(actor_ap_id.to_string(), signer.clone());
        Ok(Some(signer))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Signer>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
