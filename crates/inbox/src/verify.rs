//! Verify: the HTTP signature, and who may speak for the activity.
//!
//! 1. Every check that needs no key (`sluice_apub::signature::check`): the `Signature`
//!    header, covered headers (`(request-target)`, `host`, `date` or `(created)`, `digest`),
//!    the time window, the `Digest` against the exact body bytes. The `Host` we check is the
//!    configured domain: behind a reverse proxy the socket's address is not what the sender
//!    signed.
//! 2. The `keyId` must be on the actor's host, before we fetch anything: a signature never
//!    makes us fetch from a third host.
//! 3. The key, cheapest tier first ([`crate::keys`]), the RSA verification, and one refetch
//!    when a stored key fails (rotation).
//!
//! The one exception: a `Delete` whose object is its own actor, when the actor's document
//! answers 410 Gone. The key is gone with the account, so the signature cannot be checked;
//! the origin's 410 is itself the evidence that the account is deleted, and that is all the
//! activity claims. Such a Delete is journaled (so the pipeline marks the person deleted) —
//! only when the `keyId` document is the actor itself and the object is the actor, so the
//! 410 we saw is about exactly what the activity says.

use crate::Refusal;
use crate::envelope::Envelope;
use crate::keys::{KeyError, KeyStore, Tier};
use actix_web::HttpRequest;
use sluice_apub::Rc;
use sluice_apub::signature::{Checked, Incoming, SignatureError, VerifyPolicy, check};
use sluice_apub::urls::authority;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// How the activity was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// A valid signature by a key owned by `owner`, found in `tier`.
    Signature {
        /// The key's owner.
        owner: String,
        /// Where the key came from.
        tier: Tier,
    },
    /// A Delete of its own actor, whose document is 410 Gone.
    ActorGone,
}

/// The request headers as the signature library wants them, with `host` set to our
/// public domain.
pub fn incoming<'a>(req: &'a HttpRequest, body: &'a [u8], domain: &str) -> Incoming<'a> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let Ok(value) = value.to_str() else { continue };
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    headers.insert("host".into(), domain.to_string());
    Incoming {
        method: req.method().as_str(),
        path_and_query: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        headers,
        body: Some(body),
    }
}

fn refuse(e: SignatureError) -> Refusal {
    Refusal::new(e.rc(), e.to_string())
}

/// Runs the key-less checks; adds their CPU time to `cpu` (the caller exports the total
/// with the RSA step as `sluice_signature_verify_seconds`, key lookups excluded).
pub fn precheck(
    req: Incoming<'_>,
    policy: &VerifyPolicy,
    cpu: &mut Duration,
) -> Result<Checked, Refusal> {
    let start = Instant::now();
    let r = check(req, policy, SystemTime::now()).map_err(refuse);
    *cpu += start.elapsed();
    r
}

/// The key's document URL (the keyId without fragment).
fn key_document(key_id: &str) -> Option<Url> {
    let mut u = Url::parse(key_id).ok()?;
    u.set_fragment(None);
    Some(u)
}

/// Resolves the key and verifies; see the module doc for the rules.
/// `cpu` collects the time of the RSA verifications (not of key lookups).
pub async fn authenticate(
    checked: &Checked,
    env: &Envelope,
    keys: &KeyStore,
    trips: &AtomicU64,
    cpu: &mut Duration,
) -> Result<Verified, Refusal> {
    let actor_host = env.actor_host();
    let key_doc = key_document(&checked.key_id).ok_or_else(|| {
        Refusal::new(
            Rc::KeyUnknown,
            format!("keyId {:?} is not a URL", checked.key_id),
        )
    })?;
    if authority(&key_doc) != actor_host {
        return Err(Refusal::new(
            Rc::SignerNotActor,
            format!(
                "signed by a key on {}, but the actor is on {actor_host}",
                authority(&key_doc)
            ),
        ));
    }
    let (key, tier) = match keys.get(&checked.key_id, trips).await {
        Ok(k) => k,
        Err(KeyError::Gone)
            if env.kind == "Delete"
                && key_doc.as_str() == env.actor.as_str()
                && env.object_id.as_deref() == Some(env.actor.as_str()) =>
        {
            return Ok(Verified::ActorGone);
        }
        Err(e) => return Err(key_refusal(e)),
    };
    let owner_host = Url::parse(&key.owner)
        .map(|u| authority(&u))
        .unwrap_or_default();
    if owner_host != actor_host {
        return Err(Refusal::new(
            Rc::SignerNotActor,
            format!(
                "the key belongs to {}, not to an actor on {actor_host}",
                key.owner
            ),
        ));
    }
    if timed_verify(checked, &key.key, cpu).is_ok() {
        return Ok(Verified::Signature {
            owner: key.owner.clone(),
            tier,
        });
    }
    // A stored key failed: the owner may have rotated it. One refetch, if not too young.
    if tier != Tier::Fetch
        && let Some(again) = keys.refetch(&checked.key_id, &key, trips).await
    {
        let key = again.map_err(key_refusal)?;
        timed_verify(checked, &key.key, cpu).map_err(refuse)?;
        return Ok(Verified::Signature {
            owner: key.owner.clone(),
            tier: Tier::Refetch,
        });
    }
    Err(refuse(SignatureError::Invalid))
}

fn timed_verify(
    checked: &Checked,
    key: &rsa::RsaPublicKey,
    cpu: &mut Duration,
) -> Result<(), SignatureError> {
    let start = Instant::now();
    let r = checked.verify(key);
    *cpu += start.elapsed();
    r
}

fn key_refusal(e: KeyError) -> Refusal {
    match e {
        KeyError::Unknown(m) => Refusal::new(Rc::KeyUnknown, m),
        KeyError::Gone => Refusal::new(
            Rc::KeyUnknown,
            "the signer's actor is gone (410); only a Delete of that actor is accepted",
        ),
        KeyError::Transient(m) => Refusal::new(Rc::KeyFetchFailed, m),
        KeyError::Database(_) => Refusal::database_unavailable(),
    }
}
