//! Verifying incoming requests with activitypub_federation, the way Lemmy does.
//!
//! Lemmy's inbox is `activitypub_federation::actix_web::inbox::receive_activity`. We cannot
//! call it here: before it even looks at the signature it runs
//! `FederationConfig::verify_url_valid` on the activity id, which insists on `Url::domain()`
//! and so refuses every IP-literal host ("URL failed verification: Url must have a domain"),
//! even in debug mode; and every test instance, sluice included, lives at `127.0.0.x:PORT`.
//! (Its sending side has the same limit: `generate_request_headers` panics on an IP inbox.)
//! A unit test below pins that refusal, so we notice if a later version lifts it.
//!
//! So we use the library's public lower-level entry point,
//! `activitypub_federation::actix_web::signing_actor`, which runs the same two checks
//! `receive_activity` runs on the wire: `verify_body_hash` (the `Digest` header must be present
//! and match the body) and `verify_signature` (draft-cavage, `Digest` required, signatures valid
//! one hour, RSA-SHA256 with the key of the actor the `keyId` names). The actor is
//! dereferenced through `ObjectId::dereference`, which first asks our
//! [`Object::read_from_id`]; that is where we fetch the actor document over HTTP (the
//! library's own fetcher would refuse the IP host for the reason above). Differences from
//! `receive_activity`, covered by [`Received::is_authentic`](super::Received::is_authentic):
//! the key comes from `keyId` rather than from the activity's `actor`, so the caller checks that
//! the two name the same actor.
//!
//! Fetched actors are cached per peer, like Lemmy's database does; when a signature fails with
//! a cached key the actor is fetched again once (the sender may have rotated its key).

use activitypub_federation::config::Data;
use activitypub_federation::error::Error as FedLibError;
use activitypub_federation::protocol::public_key::PublicKey;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::{Actor, Object};
use actix_web::HttpRequest;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Largest actor document we read (activitypub_federation's own fetch limit).
const MAX_ACTOR_DOC: usize = 1024 * 1024;
/// activitypub_federation's default request timeout.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The `app_data` of the peer's activitypub_federation configurations.
#[derive(Clone)]
pub(crate) struct PeerData {
    /// For fetching actor documents. No connection pool: the handlers run on actix worker
    /// runtimes that come and go with `stop`/`restart`, and a pooled connection belongs to the
    /// runtime that opened it.
    client: reqwest::Client,
    /// Remote actors fetched so far, by id.
    cache: Arc<Mutex<HashMap<Url, FedActor>>>,
    /// Actors whose key the test gave us (never fetched, never forgotten), by id.
    trusted: Arc<Mutex<HashMap<Url, FedActor>>>,
}

impl PeerData {
    pub(crate) fn new() -> PeerData {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        PeerData {
            client,
            cache: Arc::default(),
            trusted: Arc::default(),
        }
    }

    /// Verifies `id`'s signatures with this key from now on, without fetching its document.
    pub(crate) fn trust(&self, id: Url, public_key_pem: String) {
        let actor = FedActor {
            inbox: id.clone(),
            id: id.clone(),
            public_key_pem,
            private_key_pem: None,
        };
        self.trusted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, actor);
    }

    fn trusted(&self, id: &Url) -> Option<FedActor> {
        self.trusted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn cached(&self, id: &Url) -> Option<FedActor> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Url, FedActor>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets every fetched actor.
    pub(crate) fn forget(&self) {
        self.lock().clear();
    }
}

/// An actor as activitypub_federation sees it: a remote one fetched for its public key, or
/// one of ours (with its private key) when signing.
#[derive(Clone, Debug)]
pub(crate) struct FedActor {
    pub(crate) id: Url,
    pub(crate) inbox: Url,
    pub(crate) public_key_pem: String,
    pub(crate) private_key_pem: Option<String>,
}

/// Errors of our `Object` implementation.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FedError {
    #[error(transparent)]
    Library(#[from] FedLibError),
    #[error("fetching {0}: {1}")]
    Fetch(Url, String),
}

/// The parts of an actor document verification needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActorDoc {
    id: Url,
    inbox: Url,
    public_key: PublicKey,
}

impl FedActor {
    fn from_doc(doc: ActorDoc) -> FedActor {
        FedActor {
            id: doc.id,
            inbox: doc.inbox,
            public_key_pem: doc.public_key.public_key_pem,
            private_key_pem: None,
        }
    }
}

#[async_trait::async_trait]
impl Object for FedActor {
    type DataType = PeerData;
    type Kind = Value;
    type Error = FedError;

    fn id(&self) -> &Url {
        &self.id
    }

    /// Our "database" is the cache; on a miss we fetch over HTTP right here (see module doc).
    async fn read_from_id(id: Url, data: &Data<PeerData>) -> Result<Option<Self>, FedError> {
        if let Some(actor) = data.app_data().trusted(&id) {
            return Ok(Some(actor));
        }
        if let Some(actor) = data.app_data().cached(&id) {
            return Ok(Some(actor));
        }
        let actor = fetch_actor(&data.app_data().client, &id).await?;
        data.app_data().lock().insert(id, actor.clone());
        Ok(Some(actor))
    }

    async fn into_json(self, _data: &Data<PeerData>) -> Result<Value, FedError> {
        Ok(json!({
            "id": self.id,
            "inbox": self.inbox,
            "publicKey": self.public_key(),
        }))
    }

    async fn verify(
        json: &Value,
        expected_domain: &Url,
        _: &Data<PeerData>,
    ) -> Result<(), FedError> {
        let doc = ActorDoc::deserialize(json)
            .map_err(|e| FedError::Fetch(expected_domain.clone(), e.to_string()))?;
        Ok(verify_domains_match(&doc.id, expected_domain)?)
    }

    async fn from_json(json: Value, _: &Data<PeerData>) -> Result<Self, FedError> {
        let doc = ActorDoc::deserialize(&json).map_err(|e| {
            FedError::Fetch(
                Url::parse("about:blank").expect("static url"),
                e.to_string(),
            )
        })?;
        Ok(FedActor::from_doc(doc))
    }
}

impl Actor for FedActor {
    fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    fn private_key_pem(&self) -> Option<String> {
        self.private_key_pem.clone()
    }

    fn inbox(&self) -> Url {
        self.inbox.clone()
    }
}

/// GETs an actor document the way activitypub_federation's fetcher does: `Accept:
/// application/activity+json`, no redirects, a size cap, 410 means deleted, and the document's
/// `id` must be the URL we asked for.
async fn fetch_actor(client: &reqwest::Client, id: &Url) -> Result<FedActor, FedError> {
    let fail = |msg: String| FedError::Fetch(id.clone(), msg);
    let res = client
        .get(id.as_str())
        .header("Accept", activitypub_federation::FEDERATION_CONTENT_TYPE)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if res.status() == reqwest::StatusCode::GONE {
        return Err(FedLibError::ObjectDeleted(id.clone()).into());
    }
    if !res.status().is_success() {
        return Err(fail(format!("status {}", res.status())));
    }
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.map_err(|e| fail(e.to_string()))?);
        if body.len() > MAX_ACTOR_DOC {
            return Err(FedLibError::ResponseBodyLimit.into());
        }
    }
    let doc: ActorDoc = serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
    if &doc.id != id {
        return Err(FedLibError::FetchWrongId(id.clone()).into());
    }
    Ok(FedActor::from_doc(doc))
}

/// The outcome of verifying one request.
pub(crate) struct Verdict {
    pub(crate) verified: bool,
    pub(crate) error: Option<String>,
}

/// The `Signature` header's `keyId`.
pub(crate) fn key_id(req: &HttpRequest) -> Option<String> {
    let sig = req.headers().get("signature")?.to_str().ok()?;
    let start = sig.find("keyId=\"")? + "keyId=\"".len();
    let key_id = &sig[start..];
    Some(key_id[..key_id.find('"')?].to_string())
}

/// The actor a `keyId` names: what activitypub_federation extracts (`keyId="<actor>#<key>"`,
/// split at the last `#`).
pub(crate) fn key_owner(key_id: &str) -> Option<String> {
    key_id.rsplit_once('#').map(|(owner, _)| owner.to_string())
}

/// Checks `req`'s digest and signature with activitypub_federation.
pub(crate) async fn verify(req: &HttpRequest, body: Bytes, data: &Data<PeerData>) -> Verdict {
    let owner = key_id(req)
        .as_deref()
        .and_then(key_owner)
        .and_then(|o| Url::parse(&o).ok());
    let was_cached = owner
        .as_ref()
        .is_some_and(|u| data.app_data().cached(u).is_some());
    let mut result =
        activitypub_federation::actix_web::signing_actor::<FedActor>(req, Some(body.clone()), data)
            .await;
    if was_cached
        && matches!(
            result,
            Err(FedError::Library(FedLibError::ActivitySignatureInvalid))
        )
    {
        // The sender may have rotated its key since we cached it: fetch it again, once.
        if let Some(owner) = &owner {
            data.app_data().lock().remove(owner);
        }
        result = activitypub_federation::actix_web::signing_actor::<FedActor>(
            req,
            Some(body),
            &data.reset_request_count(),
        )
        .await;
    }
    match result {
        Ok(_) => Verdict {
            verified: true,
            error: None,
        },
        Err(e) => Verdict {
            verified: false,
            error: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activitypub_federation::config::FederationConfig;
    use activitypub_federation::traits::Activity;

    /// Any activity (only for the test below).
    #[derive(Deserialize)]
    struct AnyActivity {
        id: Url,
        actor: Url,
    }

    #[async_trait::async_trait]
    impl Activity for AnyActivity {
        type DataType = PeerData;
        type Error = FedError;
        fn id(&self) -> &Url {
            &self.id
        }
        fn actor(&self) -> &Url {
            &self.actor
        }
        async fn verify(&self, _: &Data<PeerData>) -> Result<(), FedError> {
            Ok(())
        }
        async fn receive(self, _: &Data<PeerData>) -> Result<(), FedError> {
            Ok(())
        }
    }

    /// Why the peer cannot use `receive_activity` (see the module doc): the library refuses
    /// IP-literal activity ids before it looks at the signature, even in debug mode.
    #[tokio::test]
    async fn receive_activity_refuses_ip_hosts_even_in_debug_mode() {
        let config = FederationConfig::builder()
            .domain("127.0.0.1:1")
            .app_data(PeerData::new())
            .debug(true)
            .build()
            .await
            .unwrap();
        let body = serde_json::to_vec(&json!({
            "id": "http://127.0.0.2:2/activities/like/1",
            "type": "Like",
            "actor": "http://127.0.0.2:2/u/alice",
            "object": "http://127.0.0.1:1/post/1",
        }))
        .unwrap();
        let digest = {
            use base64::Engine;
            use sha2::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body))
        };
        let req = actix_web::test::TestRequest::post()
            .uri("/inbox")
            .insert_header(("Digest", format!("SHA-256={digest}")))
            .to_http_request();
        let err = activitypub_federation::actix_web::inbox::receive_activity::<
            AnyActivity,
            FedActor,
            PeerData,
        >(req, body.into(), &config.to_request_data())
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("Url must have a domain"),
            "unexpected: {err}"
        );
    }
}
