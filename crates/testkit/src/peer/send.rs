//! The peer as a sender: signed `POST`s to an inbox, the way Lemmy sends them.
//!
//! Signing is activitypub_federation's (`Data::sign_request`, configured like Lemmy:
//! `http_signature_compat(true)`, so `algorithm="hs2019"`, no `(created)`/`(expires)`,
//! signed headers `(request-target) content-type date digest host`, RSA-SHA256 over the
//! signing string, `Digest: SHA-256=<base64>`). The headers we hand it are the ones Lemmy's
//! `generate_request_headers` sets (content type, host, date); we cannot call that function
//! because it panics on IP hosts.
//!
//! Tampered variants for rejection tests are built from that same path where possible:
//! in compat mode the library signs whatever `Date` header it is given, so a stale date is a
//! stale header signed by the library. Only a request without a `Digest` header needs the
//! lower-level http-signature-normalization directly, because the library always adds one.
//!
//! RSA signing uses `rsa` 0.9 (RUSTSEC-2023-0071, a timing side channel in private-key
//! operations): irrelevant here, these are throw-away test keys.

use super::PeerError;
use super::keys::ActorKey;
use super::verify::{FedActor, PeerData};
use activitypub_federation::FEDERATION_CONTENT_TYPE;
use activitypub_federation::config::FederationConfig;
use base64::Engine;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use rsa::Pkcs1v15Sign;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

/// How to spoil a delivery, for tests that sluice refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// A correct delivery.
    None,
    /// Signed, then a field added to the body: the `Digest` no longer matches.
    BodyChangedAfterSigning,
    /// Signed with a key that is not the signer's (an unrelated key), under the signer's `keyId`.
    SignedWithWrongKey,
    /// No `Digest` header, and a signature (otherwise correct) that does not cover one.
    NoDigestHeader,
    /// `Date` 13 hours in the past, correctly signed (beyond every implementation's window:
    /// activitypub_federation 1 h, Mastodon 12 h).
    StaleDate,
    /// `Date` this long in the past, correctly signed.
    DateAgo(Duration),
    /// A correctly signed body of at least this many bytes (the activity plus a `padding`
    /// string field; trailing spaces if the activity is not a JSON object).
    OversizedBody(usize),
}

/// The answer to a delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body as text.
    pub text: String,
}

impl Delivery {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }

    /// The `rc` of a sluice refusal (`{"rc": "...", "error": "..."}`).
    pub fn rc(&self) -> Option<String> {
        self.json()?.get("rc")?.as_str().map(str::to_string)
    }
}

/// Who signs: the actor id (for `keyId`) and the key that really signs.
pub(crate) struct Signer {
    pub(crate) id: Url,
    pub(crate) key: Arc<ActorKey>,
    /// A ready activitypub_federation config with this signer as `signed_fetch_actor`.
    pub(crate) config: FederationConfig<PeerData>,
}

/// Builds the activitypub_federation config that signs as `id` with `key`.
pub(crate) async fn signer_config(
    domain: &str,
    id: &Url,
    key: &ActorKey,
) -> Result<FederationConfig<PeerData>, PeerError> {
    let actor = FedActor {
        id: id.clone(),
        inbox: id.clone(),
        public_key_pem: key.public_pem.clone(),
        private_key_pem: Some(key.private_pem.clone()),
    };
    FederationConfig::builder()
        .domain(domain)
        .app_data(PeerData::new())
        .debug(true)
        // What Lemmy sets (draft-cavage without (created)/(expires), for Pleroma/Mastodon).
        .http_signature_compat(true)
        .signed_fetch_actor(&actor)
        .build()
        .await
        .map_err(|e| PeerError::Sign(e.to_string()))
}

/// POSTs `activity` to `inbox`, signed by `signer`, spoiled as `tamper` says. With `via`,
/// the request (addressed and signed for `inbox`, `Host` included) goes to that origin's
/// socket instead, as a load balancer in front of several processes would pass it on.
pub(crate) async fn deliver(
    client: &reqwest::Client,
    inbox: &str,
    via: Option<&str>,
    signer: Signer,
    activity: &Value,
    tamper: Tamper,
) -> Result<Delivery, PeerError> {
    let via = via
        .map(|v| Url::parse(v).map_err(|e| PeerError::Url(v.to_string(), e.to_string())))
        .transpose()?;
    let mut request = signed_request(client, inbox, signer, activity, tamper).await?;
    if let Some(via) = via {
        // The explicit `Host` header (signed) stays; only the socket changes.
        let target = request.url_mut();
        let moved = target
            .set_scheme(via.scheme())
            .and_then(|_| target.set_host(via.host_str()).map_err(|_| ()))
            .and_then(|_| target.set_port(via.port()));
        moved.map_err(|_| PeerError::Url(via.to_string(), "cannot deliver through it".into()))?;
    }
    let res = client.execute(request).await?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    Ok(Delivery {
        status,
        headers,
        text,
    })
}

/// The signed `POST` of `activity` to `inbox`, ready to send (any client can execute it).
pub(crate) async fn signed_request(
    client: &reqwest::Client,
    inbox: &str,
    signer: Signer,
    activity: &Value,
    tamper: Tamper,
) -> Result<reqwest::Request, PeerError> {
    let url = Url::parse(inbox).map_err(|e| PeerError::Url(inbox.to_string(), e.to_string()))?;
    let body = match &tamper {
        Tamper::OversizedBody(n) => padded(activity, *n),
        _ => serde_json::to_vec(activity).map_err(|e| PeerError::Sign(e.to_string()))?,
    };
    let date = match &tamper {
        Tamper::StaleDate => SystemTime::now() - Duration::from_secs(13 * 3600),
        Tamper::DateAgo(ago) => SystemTime::now() - *ago,
        _ => SystemTime::now(),
    };
    let headers = lemmy_headers(&url, date)?;
    let request = if tamper == Tamper::NoDigestHeader {
        sign_without_digest(client, &url, headers, &signer, body)?
    } else {
        let builder = reqwest_middleware::ClientWithMiddleware::from(client.clone())
            .post(url.as_str())
            .headers(headers);
        let mut request = signer
            .config
            .to_request_data()
            .sign_request(builder, Bytes::from(body))
            .await
            .map_err(|e| PeerError::Sign(e.to_string()))?;
        if tamper == Tamper::BodyChangedAfterSigning {
            *request.body_mut() = Some(changed(activity).into());
        }
        request
    };
    Ok(request)
}

/// The headers Lemmy's `generate_request_headers` sets.
fn lemmy_headers(url: &Url, date: SystemTime) -> Result<HeaderMap, PeerError> {
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(PeerError::Url(url.to_string(), "no host".into())),
    };
    let bad = |e: reqwest::header::InvalidHeaderValue| PeerError::Sign(e.to_string());
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static(FEDERATION_CONTENT_TYPE),
    );
    headers.insert("host", HeaderValue::from_str(&host).map_err(bad)?);
    headers.insert(
        "date",
        HeaderValue::from_str(&httpdate::fmt_http_date(date)).map_err(bad)?,
    );
    Ok(headers)
}

/// A signature made like the library's compat mode, minus the `Digest` header (which
/// activitypub_federation always adds, so this one is built from its building blocks).
fn sign_without_digest(
    client: &reqwest::Client,
    url: &Url,
    headers: HeaderMap,
    signer: &Signer,
    body: Vec<u8>,
) -> Result<reqwest::Request, PeerError> {
    let mut fields = BTreeMap::new();
    for (name, value) in &headers {
        let value = value.to_str().map_err(|e| PeerError::Sign(e.to_string()))?;
        fields.insert(name.as_str().to_string(), value.to_string());
    }
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let key = signer.key.private.clone();
    let signature = http_signature_normalization::Config::new()
        .mastodon_compat()
        .begin_sign("POST", &path_and_query, fields)
        .map_err(|e| PeerError::Sign(e.to_string()))?
        .sign(format!("{}#main-key", signer.id), |signing_string| {
            key.sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(signing_string.as_bytes()),
            )
            .map(|sig| base64::engine::general_purpose::STANDARD.encode(sig))
        })
        .map_err(|e| PeerError::Sign(e.to_string()))?
        .signature_header();
    client
        .post(url.as_str())
        .headers(headers)
        .header("signature", signature)
        .body(body)
        .build()
        .map_err(PeerError::from)
}

/// `activity` with a field added: same JSON shape, different bytes.
fn changed(activity: &Value) -> Vec<u8> {
    let mut v = activity.clone();
    match v.as_object_mut() {
        Some(obj) => {
            obj.insert("tampered".into(), Value::Bool(true));
            serde_json::to_vec(&v).unwrap_or_default()
        }
        None => {
            let mut bytes = serde_json::to_vec(activity).unwrap_or_default();
            bytes.push(b' ');
            bytes
        }
    }
}

/// `activity` serialised to at least `n` bytes, still valid JSON.
fn padded(activity: &Value, n: usize) -> Vec<u8> {
    let mut v = activity.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("padding".into(), Value::String(String::new()));
        let len = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0);
        let fill = "x".repeat(n.saturating_sub(len));
        if let Some(obj) = v.as_object_mut() {
            obj.insert("padding".into(), Value::String(fill));
        }
        serde_json::to_vec(&v).unwrap_or_default()
    } else {
        let mut bytes = serde_json::to_vec(activity).unwrap_or_default();
        let missing = n.saturating_sub(bytes.len());
        bytes.extend(std::iter::repeat_n(b' ', missing));
        bytes
    }
}
