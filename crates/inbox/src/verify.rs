//! The *signature* step of [`crate::receive`]: the HTTP signature, and who may speak for
//! the activity, in this order:
//!
//! - **key-less checks** ([`precheck`], `sluice_apub::signature::check`): the `Signature`
//!   header (its times bounded before any library sees them), covered headers
//!   (`(request-target)`, `host`, `date` or `(created)`, `digest`), the time window, the
//!   `Digest` against the exact body bytes. The `Host` we check is the configured domain:
//!   behind a reverse proxy the socket's address is not what the sender signed.
//! - **signer**, decided before anything is fetched: the `keyId` names its signer's own
//!   document ([`key_document`]: the keyId without its fragment, `<actor>#main-key`, or the
//!   actor for a keyId one segment under it, `<actor>/main-key`). When that signer is the
//!   activity's actor, its key may be fetched (as activitypub_federation and Mastodon
//!   do): a signature never makes us fetch anything but the actor the activity names.
//!   When it is not (inbox forwarding, or `mallory` signing for `bob`), the activity is
//!   *forwarded*: the signature proves only who forwarded it, the signer's key must
//!   already be known (never fetched for a forward), the actor may not be one of ours,
//!   and the pipeline applies the activity only as fetched by its id from its origin
//!   (Mastodon's rule).
//! - **key** ([`crate::key_tiers`], cheapest tier first; keyIds on our own domain resolve
//!   to local keys only), whose owner must be the signer; the RSA verification; one
//!   refetch when a stored key fails (rotation).
//!
//! The one exception: a `Delete` whose object is its own actor, when the actor's document
//! answers 410 Gone. The key is gone with the account, so the signature cannot be checked;
//! the origin's 410 is itself the evidence that the account is deleted, and that is all the
//! activity claims. What is journaled then is not the request's body but a Delete sluice
//! builds itself ([`gone_delete`]): under an id derived from the actor (so repeats collapse
//! and no sender can choose it), with nothing but actor and object (no `removeData`).
//!
//! The CPU time of the key-less checks and of the RSA verifications (not of key lookups)
//! goes to the request's spend (`sluice_metrics::spend`), exported as
//! `sluice_signature_verify_seconds`.

use crate::Refusal;
use crate::envelope::Envelope;
use crate::key_tiers::{Key, KeyError, KeyStore, Tier, key_document};
use actix_web::HttpRequest;
use sluice_apub::Rc;
use sluice_apub::signature::{Checked, Incoming, SignatureError, VerifyPolicy, check};
use sluice_metrics::spend;
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};
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
    /// A valid signature by `signer`, an actor other than the activity's (inbox
    /// forwarding): it proves who forwarded the activity, not the activity itself.
    Forwarded {
        /// The signer (its key's owner).
        signer: String,
        /// Where the key came from.
        tier: Tier,
    },
    /// A Delete of its own actor, whose document is 410 Gone.
    ActorGone,
}

impl Verified {
    /// The signer, when it is not the activity's actor.
    pub fn forwarder(&self) -> Option<&str> {
        match self {
            Verified::Forwarded { signer, .. } => Some(signer),
            _ => None,
        }
    }
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

/// Runs the key-less checks.
pub fn precheck(req: Incoming<'_>, policy: &VerifyPolicy) -> Result<Checked, Refusal> {
    let start = Instant::now();
    let r = check(req, policy, SystemTime::now());
    spend::add_verify(start.elapsed());
    Ok(r?)
}

/// Longest keyId accepted.
const MAX_KEY_ID_LEN: usize = 1024;

/// Resolves the key and verifies; see the module doc for the rules.
pub async fn authenticate(
    checked: &Checked,
    env: &Envelope,
    keys: &KeyStore,
) -> Result<Verified, Refusal> {
    // Every keyId may end up a key of an in-memory cache: bounded like a URL, not like
    // the 128 KiB of headers a sender may send.
    if checked.key_id.len() > MAX_KEY_ID_LEN {
        return Err(Refusal::new(
            Rc::KeyUnknown,
            format!("the keyId is longer than {MAX_KEY_ID_LEN} bytes"),
        ));
    }
    let signer = key_document(&checked.key_id, &env.actor)?;
    let forwarded = signer != env.actor;
    if forwarded && keys.is_local(&env.actor) {
        return Err(Refusal::new(
            Rc::SignerNotActor,
            format!(
                "signed with {}, not by the actor {}: nobody forwards our own actors' \
                 activities to us",
                checked.key_id, env.actor
            ),
        ));
    }
    let found = if forwarded {
        keys.known(&checked.key_id, &signer).await
    } else {
        keys.get(&checked.key_id, &signer).await
    };
    let (key, tier) = match found {
        Ok(k) => k,
        Err(KeyError::Gone)
            if !forwarded
                && env.kind == "Delete"
                && env.object_id.as_deref() == Some(env.actor.as_str()) =>
        {
            return Ok(Verified::ActorGone);
        }
        Err(e) => return Err(e.into()),
    };
    let verified = |owner: &str, tier| {
        if forwarded {
            Verified::Forwarded {
                signer: owner.to_string(),
                tier,
            }
        } else {
            Verified::Signature {
                owner: owner.to_string(),
                tier,
            }
        }
    };
    owned_by(&key, &signer)?;
    if timed_verify(checked, &key.key).is_ok() {
        return Ok(verified(&key.owner, tier));
    }
    // A stored key failed: the owner may have rotated it. One refetch, if not too young.
    if !matches!(tier, Tier::Fetch | Tier::Local)
        && let Some(again) = keys.refetch(&checked.key_id, &key, &signer).await
    {
        let key = again?;
        owned_by(&key, &signer)?;
        timed_verify(checked, &key.key)?;
        return Ok(verified(&key.owner, Tier::Refetch));
    }
    Err(SignatureError::Invalid.into())
}

/// The key's owner (as stored, or as its document said) must be the signer itself, the
/// document its keyId names.
fn owned_by(key: &Key, signer: &Url) -> Result<(), Refusal> {
    if Url::parse(&key.owner).ok().as_ref() == Some(signer) {
        return Ok(());
    }
    Err(Refusal::new(
        Rc::SignerNotActor,
        format!("the key belongs to {}, not to {signer}", key.owner),
    ))
}

/// The fragment of the ids [`gone_delete`] derives. Incoming activities may not use it
/// (400 `IdReserved`), so no sender can take the id before sluice does.
pub const GONE_FRAGMENT: &str = "sluice-gone";

/// The Delete sluice journals for an actor whose document is 410 Gone: `<actor>#sluice-gone`
/// as its id (one per actor: repeats are duplicates), the actor as actor and object, and
/// nothing the sender wrote (no `removeData`, no audience).
pub fn gone_delete(actor: &Url) -> (Url, String) {
    let mut id = actor.clone();
    id.set_fragment(Some(GONE_FRAGMENT));
    let doc = serde_json::json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": id.as_str(),
        "type": "Delete",
        "actor": actor.as_str(),
        "object": actor.as_str(),
    });
    (id, doc.to_string())
}

fn timed_verify(checked: &Checked, key: &rsa::RsaPublicKey) -> Result<(), SignatureError> {
    let start = Instant::now();
    let r = checked.verify(key);
    spend::add_verify(start.elapsed());
    r
}
