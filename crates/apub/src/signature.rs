//! HTTP signatures (draft-cavage), as the threadiverse uses them.
//!
//! **Verifying** is split in two so the receiver can do the cheap checks before it spends a
//! key lookup: [`check`] parses the `Signature` header (via http-signature-normalization),
//! insists on the headers that make a signature meaningful (`(request-target)`, `host`,
//! `date` or `(created)`, and `digest` on requests with a body), checks the time window and
//! the body digest; [`Checked::verify`] then does the RSA verification with the signer's key.
//! Accepted algorithms: `rsa-sha256`, and `hs2019` with an RSA key (what Mastodon and
//! activitypub_federation send); the signature is RSASSA-PKCS1-v1_5 with SHA-256 either way.
//!
//! **Signing** produces `(request-target) host date digest` signatures labelled `rsa-sha256`,
//! the form every implementation (Lemmy, Mastodon, Mbin, PieFed, Friendica, PeerTube) verifies.
//! The signing string is built here (it is five lines) because http-signature-normalization
//! always labels its output `hs2019`, which some older servers reject.
//!
//! Time window (documented in docs/errors.md): the signature's `Date` (or `(created)`) may be
//! at most [`VerifyPolicy::max_age`] old (default 1 h, as activitypub_federation; Lemmy and
//! Mastodon re-sign every retry, so an honest signature is minutes old) and at most
//! [`VerifyPolicy::max_skew`] in the future (default 1 h, Mastodon's clock-skew allowance).

use crate::Rc;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use url::Url;

/// How strict verification is about time.
#[derive(Debug, Clone, Copy)]
pub struct VerifyPolicy {
    /// Oldest acceptable `Date`/`(created)`.
    pub max_age: Duration,
    /// Furthest acceptable `Date`/`(created)` in the future (clock skew).
    pub max_skew: Duration,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        VerifyPolicy {
            max_age: Duration::from_secs(3600),
            max_skew: Duration::from_secs(3600),
        }
    }
}

/// Why a signature was refused. Each maps to a stable [`Rc`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Signature` (or `Authorization: Signature`) header.
    #[error("the request is not signed (no Signature header)")]
    Missing,
    /// The header cannot be parsed.
    #[error("malformed Signature header: {0}")]
    Malformed(String),
    /// A header that must be signed is not signed, or a signed header is absent.
    #[error("the signature must cover {0}")]
    HeaderNotSigned(String),
    /// A request with a body has no `Digest` header.
    #[error("the request has a body but no Digest header")]
    DigestMissing,
    /// The `Digest` header does not match the body.
    #[error("the Digest header does not match the body")]
    DigestMismatch,
    /// The `Date`/`(created)` is outside the accepted window.
    #[error("the signature date is outside the accepted window: {0}")]
    Expired(String),
    /// An algorithm other than rsa-sha256 / hs2019.
    #[error("unsupported signature algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify with the signer's key.
    #[error("the signature does not verify with the signer's key")]
    Invalid,
}

impl SignatureError {
    /// The stable code for this refusal.
    pub fn rc(&self) -> Rc {
        match self {
            SignatureError::Missing => Rc::SignatureMissing,
            SignatureError::Malformed(_) => Rc::SignatureMalformed,
            SignatureError::HeaderNotSigned(_) => Rc::SignatureHeaderNotSigned,
            SignatureError::DigestMissing => Rc::DigestMissing,
            SignatureError::DigestMismatch => Rc::DigestMismatch,
            SignatureError::Expired(_) => Rc::SignatureExpired,
            SignatureError::UnsupportedAlgorithm(_) => Rc::SignatureAlgorithmUnsupported,
            SignatureError::Invalid => Rc::SignatureInvalid,
        }
    }
}

/// The parts of an incoming request a signature covers.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// Path and query as sent (`/inbox`).
    pub path_and_query: &'a str,
    /// Headers, any case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The exact body bytes (`None` for GET).
    pub body: Option<&'a [u8]>,
}

/// A signature that passed every check that needs no key.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The `keyId`: who claims to have signed.
    pub key_id: String,
    signing_string: String,
    signature: Vec<u8>,
}

/// Checks everything but the key: header coverage, time window, digest.
pub fn check(
    req: Incoming<'_>,
    policy: &VerifyPolicy,
    now: SystemTime,
) -> Result<Checked, SignatureError> {
    let headers: BTreeMap<String, String> = req
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let has_body = req.body.is_some();
    let date = headers.get("date").cloned();
    let digest = headers.get("digest").cloned();
    if !headers.contains_key("signature") && !headers.contains_key("authorization") {
        return Err(SignatureError::Missing);
    }
    // The library turns `created=`/`expires=` into times with unchecked arithmetic (a
    // huge value panics): bound them before it sees the header.
    for name in ["authorization", "signature"] {
        if let Some(h) = headers.get(name) {
            check_header_times(h)?;
        }
    }

    // The library treats every listed header as required-and-present; we add what the
    // fediverse needs signed. Its own expiry check is disabled (huge window): ours below
    // also refuses dates in the future and unparsable dates.
    let mut config = http_signature_normalization::Config::new()
        .set_expiration(Duration::from_secs(u32::MAX as u64))
        .require_header("(request-target)")
        .require_header("host");
    if has_body {
        config = config.require_header("digest");
    }
    let unverified = config
        .begin_verify(req.method, req.path_and_query, headers)
        .map_err(|e| {
            use http_signature_normalization::PrepareVerifyError as P;
            match e {
                P::Required(r)
                    if has_body && r.headers().contains("digest") && digest.is_none() =>
                {
                    SignatureError::DigestMissing
                }
                P::Required(r) => {
                    let mut h: Vec<_> = r.headers().iter().cloned().collect();
                    h.sort();
                    SignatureError::HeaderNotSigned(h.join(", "))
                }
                P::Parse(p) => SignatureError::Malformed(format!("missing {}", p.missing_field())),
                P::Validate(v) => SignatureError::Malformed(v.to_string()),
            }
        })?;

    match unverified.algorithm() {
        None => {}
        Some(http_signature_normalization::verify::Algorithm::Hs2019) => {}
        Some(http_signature_normalization::verify::Algorithm::Deprecated(
            http_signature_normalization::verify::DeprecatedAlgorithm::RsaSha256,
        )) => {}
        Some(other) => {
            return Err(SignatureError::UnsupportedAlgorithm(
                format!("{other:?}").to_lowercase(),
            ));
        }
    }

    let signing_string = unverified.signing_string().to_string();
    check_time(&signing_string, date.as_deref(), policy, now)?;
    if let Some(body) = req.body {
        check_digest(
            digest.as_deref().ok_or(SignatureError::DigestMissing)?,
            body,
        )?;
    }
    let signature = B64
        .decode(unverified.signature())
        .map_err(|_| SignatureError::Malformed("signature is not base64".into()))?;
    Ok(Checked {
        key_id: unverified.key_id().to_string(),
        signing_string,
        signature,
    })
}

/// The latest Unix time accepted anywhere in a signature (9999-12-31T23:59:59Z, the end of
/// HTTP dates' range): times beyond cannot be added to, compared or formatted safely.
const MAX_UNIX_TIME: u64 = 253_402_300_799;

/// A Unix time as signatures carry it: decimal digits only (no sign, no fraction, no
/// exponent), at most [`MAX_UNIX_TIME`].
fn unix_time(field: &str, value: &str) -> Result<SystemTime, SignatureError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed(format!(
            "{field} is not a Unix time: {:?}",
            truncate(v, 40)
        )));
    }
    match v.parse::<u64>() {
        Ok(secs) if secs <= MAX_UNIX_TIME => Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
        _ => Err(SignatureError::Malformed(format!(
            "{field} is out of range: {:?}",
            truncate(v, 40)
        ))),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Every `created=`/`expires=` parameter of a `Signature` (or `Authorization: Signature`)
/// header, split as http-signature-normalization splits it (on `,`, then the first `=`),
/// must be a bounded Unix time; any other parameter is left to the library.
fn check_header_times(header: &str) -> Result<(), SignatureError> {
    let params = header.trim().trim_start_matches("Signature").trim();
    for part in params.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.eq_ignore_ascii_case("created") || key.eq_ignore_ascii_case("expires") {
            unix_time(key, value.trim().trim_matches('"'))?;
        }
    }
    Ok(())
}

/// The signed time: `(created)` when signed, else the `Date` header, which must then be signed.
fn check_time(
    signing_string: &str,
    date: Option<&str>,
    policy: &VerifyPolicy,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let signed = |name: &str| {
        signing_string
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": ").map(str::to_string))
    };
    let when = if let Some(created) = signed("(created)") {
        unix_time("(created)", &created)?
    } else if signed("date").is_some() {
        let d = date.ok_or_else(|| SignatureError::HeaderNotSigned("date".into()))?;
        httpdate::parse_http_date(d)
            .map_err(|_| SignatureError::Malformed(format!("unparsable Date {d:?}")))?
    } else {
        return Err(SignatureError::HeaderNotSigned("date or (created)".into()));
    };
    // Compared as distances from `now` (no addition to a time a sender chose can overflow).
    if let Some(expires) = signed("(expires)") {
        let expires = unix_time("(expires)", &expires)?;
        if now
            .duration_since(expires)
            .is_ok_and(|late| late > policy.max_skew)
        {
            return Err(SignatureError::Expired("(expires) has passed".into()));
        }
    }
    if let Ok(age) = now.duration_since(when)
        && age > policy.max_age
    {
        return Err(SignatureError::Expired(format!(
            "signed {} s ago; at most {} s accepted",
            age.as_secs(),
            policy.max_age.as_secs()
        )));
    }
    if let Ok(ahead) = when.duration_since(now)
        && ahead > policy.max_skew
    {
        let ahead = ahead.as_secs();
        return Err(SignatureError::Expired(format!(
            "signed {ahead} s in the future"
        )));
    }
    Ok(())
}

/// `Digest: SHA-256=<base64>` (several comma-separated digests allowed; SHA-256 or SHA-512
/// must be among them and match).
fn check_digest(header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let mut seen_supported = false;
    for part in header.split(',') {
        let Some((alg, value)) = part.trim().split_once('=') else {
            continue;
        };
        let expected = match alg.to_ascii_lowercase().as_str() {
            "sha-256" => B64.encode(Sha256::digest(body)),
            "sha-512" => B64.encode(Sha512::digest(body)),
            _ => continue,
        };
        seen_supported = true;
        if value.trim() == expected {
            return Ok(());
        }
    }
    if seen_supported {
        Err(SignatureError::DigestMismatch)
    } else {
        Err(SignatureError::DigestMissing)
    }
}

impl Checked {
    /// Verifies the RSA signature with the signer's public key.
    ///
    /// Keys of 2048 bits and more (what every threadiverse server generates) are verified
    /// by ring: with the `rsa` crate's pure-Rust bignums a verification took ~0.2 ms, more
    /// than half of sluice's CPU at 3,000 activities/s on two cores (docs/benchmarks.md,
    /// the profile); ring's takes tens of microseconds. Smaller keys, which ring refuses to
    /// verify by default, go through the `rsa` crate.
    pub fn verify(&self, key: &RsaPublicKey) -> Result<(), SignatureError> {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::traits::PublicKeyParts;
        if key.size() * 8 >= 2048 {
            let der = key.to_pkcs1_der().map_err(|_| SignatureError::Invalid)?;
            return ring::signature::UnparsedPublicKey::new(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                der.as_bytes(),
            )
            .verify(self.signing_string.as_bytes(), &self.signature)
            .map_err(|_| SignatureError::Invalid);
        }
        let hashed = Sha256::digest(self.signing_string.as_bytes());
        key.verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, &self.signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// A local actor's signing key, parsed once.
#[derive(Clone)]
pub struct Signer {
    /// `<actor>#main-key`.
    pub key_id: String,
    key: SigningKey,
}

/// ring for keys of 2,048 bits and more (every key sluice generates): its RSA signing is
/// blinded and constant-time, where the `rsa` crate's carries RUSTSEC-2023-0071 (a timing
/// side channel), and it is faster. Smaller imported keys, which ring refuses, keep `rsa`.
#[derive(Clone)]
enum SigningKey {
    Ring(std::sync::Arc<ring::signature::RsaKeyPair>),
    Rsa(Box<RsaPrivateKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The private key PEM cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable private key for {0}")]
pub struct BadPrivateKey(pub String);

/// Headers to add to a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Host`.
    pub host: String,
    /// `Date` (HTTP date).
    pub date: String,
    /// `Digest` (POST only).
    pub digest: Option<String>,
    /// `Signature`.
    pub signature: String,
}

impl Signer {
    /// Parses a PKCS#8 private key PEM.
    pub fn from_pem(key_id: &str, private_pem: &str) -> Result<Signer, BadPrivateKey> {
        use rsa::pkcs8::EncodePrivateKey;
        let bad = || BadPrivateKey(key_id.to_string());
        let parsed = RsaPrivateKey::from_pkcs8_pem(private_pem).map_err(|_| bad())?;
        let der = parsed.to_pkcs8_der().map_err(|_| bad())?;
        let key = match ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()) {
            Ok(pair) => SigningKey::Ring(std::sync::Arc::new(pair)),
            Err(_) => SigningKey::Rsa(Box::new(parsed)),
        };
        Ok(Signer {
            key_id: key_id.to_string(),
            key,
        })
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (deterministic: either library gives
    /// the same bytes).
    fn rsa_sha256(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            SigningKey::Ring(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                // Cannot fail for a key ring accepted and a buffer of the modulus' length.
                match pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut sig,
                ) {
                    Ok(()) => sig,
                    Err(_) => Vec::new(),
                }
            }
            // PKCS#1 v1.5 signing with a valid key and a SHA-256 digest cannot fail.
            SigningKey::Rsa(key) => key
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
                .unwrap_or_default(),
        }
    }

    /// Signs a request to `url`: `(request-target) host date` plus `digest` when there is a
    /// body.
    pub fn sign(
        &self,
        method: &str,
        url: &Url,
        body: Option<&[u8]>,
        now: SystemTime,
    ) -> SignedHeaders {
        let host = crate::urls::authority(url);
        let date = httpdate::fmt_http_date(now);
        let target = match url.query() {
            Some(q) => format!("{} {}?{q}", method.to_ascii_lowercase(), url.path()),
            None => format!("{} {}", method.to_ascii_lowercase(), url.path()),
        };
        let digest = body.map(|b| format!("SHA-256={}", B64.encode(Sha256::digest(b))));
        let mut signing = format!("(request-target): {target}\nhost: {host}\ndate: {date}");
        let mut names = "(request-target) host date".to_string();
        if let Some(d) = &digest {
            signing.push_str(&format!("\ndigest: {d}"));
            names.push_str(" digest");
        }
        let sig = self.rsa_sha256(signing.as_bytes());
        let signature = format!(
            "keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"{names}\",signature=\"{}\"",
            self.key_id,
            B64.encode(sig)
        );
        SignedHeaders {
            host,
            date,
            digest,
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypair;

    fn incoming<'a>(s: &SignedHeaders, path: &'a str, body: Option<&'a [u8]>) -> Incoming<'a> {
        let mut headers = BTreeMap::new();
        headers.insert("Host".into(), s.host.clone());
        headers.insert("Date".into(), s.date.clone());
        headers.insert("Signature".into(), s.signature.clone());
        if let Some(d) = &s.digest {
            headers.insert("Digest".into(), d.clone());
        }
        Incoming {
            method: "POST",
            path_and_query: path,
            headers,
            body,
        }
    }

    #[test]
    fn ring_signs_exactly_what_the_rsa_crate_signs() {
        use rsa::pkcs8::DecodePrivateKey;
        let kp = keypair::generate().unwrap();
        let signer = Signer::from_pem("https://a.example/u/x#main-key", &kp.private_pem).unwrap();
        assert!(
            matches!(signer.key, SigningKey::Ring(_)),
            "a 2048-bit key goes to ring"
        );
        let message = b"(request-target): post /inbox\nhost: b.example\ndate: x";
        let reference = RsaPrivateKey::from_pkcs8_pem(&kp.private_pem)
            .unwrap()
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
            .unwrap();
        assert_eq!(signer.rsa_sha256(message), reference);
    }

    #[test]
    fn keys_smaller_than_2048_bits_verify_through_the_rsa_crate() {
        let mut rng = rsa::rand_core::OsRng;
        let small = RsaPrivateKey::new(&mut rng, 1024).unwrap();
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = small.to_pkcs8_pem(LineEnding::LF).unwrap();
        let signer = Signer::from_pem("https://a.example/u/old#main-key", &pem).unwrap();
        assert!(
            matches!(signer.key, SigningKey::Rsa(_)),
            "ring refuses 1024-bit keys"
        );
        let url = Url::parse("https://b.example/inbox").unwrap();
        let body = br#"{"type":"Like"}"#;
        let now = SystemTime::now();
        let s = signer.sign("POST", &url, Some(body), now);
        let ok = check(
            incoming(&s, "/inbox", Some(body)),
            &VerifyPolicy::default(),
            now,
        )
        .unwrap();
        ok.verify(&small.to_public_key()).unwrap();
        let other = RsaPrivateKey::new(&mut rng, 1024).unwrap();
        assert_eq!(
            ok.verify(&other.to_public_key()),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn sign_then_verify_and_every_tampering_is_caught() {
        let kp = keypair::generate().unwrap();
        let other = keypair::generate().unwrap();
        let signer = Signer::from_pem("https://a.example/u/x#main-key", &kp.private_pem).unwrap();
        let url = Url::parse("https://b.example/inbox").unwrap();
        let body = br#"{"type":"Like"}"#;
        let now = SystemTime::now();
        let s = signer.sign("POST", &url, Some(body), now);
        let policy = VerifyPolicy::default();
        let key = keypair::parse_public(&kp.public_pem).unwrap();

        let ok = check(incoming(&s, "/inbox", Some(body)), &policy, now).unwrap();
        assert_eq!(ok.key_id, "https://a.example/u/x#main-key");
        ok.verify(&key).unwrap();

        // Wrong key.
        let wrong = keypair::parse_public(&other.public_pem).unwrap();
        assert_eq!(ok.verify(&wrong), Err(SignatureError::Invalid));
        // Body changed after signing.
        assert_eq!(
            check(incoming(&s, "/inbox", Some(b"{}")), &policy, now).unwrap_err(),
            SignatureError::DigestMismatch
        );
        // Path changed.
        let moved = check(incoming(&s, "/u/other/inbox", Some(body)), &policy, now).unwrap();
        assert_eq!(moved.verify(&key), Err(SignatureError::Invalid));
        // Stale and future dates.
        let later = now + Duration::from_secs(2 * 3600);
        assert!(matches!(
            check(incoming(&s, "/inbox", Some(body)), &policy, later),
            Err(SignatureError::Expired(_))
        ));
        let earlier = now - Duration::from_secs(2 * 3600);
        assert!(matches!(
            check(incoming(&s, "/inbox", Some(body)), &policy, earlier),
            Err(SignatureError::Expired(_))
        ));
        // Digest header removed.
        let mut no_digest = s.clone();
        no_digest.digest = None;
        assert!(matches!(
            check(incoming(&no_digest, "/inbox", Some(body)), &policy, now),
            Err(SignatureError::DigestMissing)
        ));
        // Not signed at all.
        let mut unsigned = incoming(&s, "/inbox", Some(body));
        unsigned.headers.remove("Signature");
        assert_eq!(
            check(unsigned, &policy, now).unwrap_err(),
            SignatureError::Missing
        );
    }

    /// `s`'s Signature header with `extra` parameters inserted and `headers=` replaced.
    fn with_params(s: &SignedHeaders, extra: &str, headers: &str) -> String {
        let sig = s.signature.replacen(',', &format!(",{extra},"), 1);
        let start = sig.find("headers=\"").unwrap();
        let end = start + 9 + sig[start + 9..].find('"').unwrap();
        format!("{}headers=\"{headers}\"{}", &sig[..start], &sig[end + 1..])
    }

    #[test]
    fn hostile_created_and_expires_values_are_refused_without_a_panic() {
        let kp = keypair::generate().unwrap();
        let signer = Signer::from_pem("https://a.example/u/x#main-key", &kp.private_pem).unwrap();
        let url = Url::parse("https://b.example/inbox").unwrap();
        let body = br#"{"type":"Like"}"#;
        let now = SystemTime::now();
        let s = signer.sign("POST", &url, Some(body), now);
        let hostile = [
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999999999",
            "253402300800",
            "-1",
            "-18446744073709551615",
            "abc",
            "1e10",
            "1.5",
            "0x10",
            "",
            "+5",
            "١٢٣",
        ];
        for field in ["created", "expires"] {
            for v in hostile {
                for covered in [
                    "(request-target) host date digest",
                    "(request-target) host (created) (expires) digest",
                ] {
                    let mut req = incoming(&s, "/inbox", Some(body));
                    let header = with_params(&s, &format!("{field}=\"{v}\""), covered);
                    req.headers.insert("Signature".into(), header.clone());
                    let r = check(req, &VerifyPolicy::default(), now);
                    assert!(
                        matches!(r, Err(SignatureError::Malformed(_))),
                        "{header}: {r:?}"
                    );
                    assert_eq!(r.unwrap_err().rc(), Rc::SignatureMalformed);
                }
            }
            // The same in an `Authorization: Signature ...` header, unquoted.
            let mut req = incoming(&s, "/inbox", Some(body));
            let sig = req.headers.remove("Signature").unwrap();
            let header = format!("Signature {field}=18446744073709551615,{sig}");
            req.headers.insert("Authorization".into(), header);
            assert!(matches!(
                check(req, &VerifyPolicy::default(), now),
                Err(SignatureError::Malformed(_))
            ));
        }
    }

    #[test]
    fn in_range_but_far_times_are_outside_the_window() {
        let kp = keypair::generate().unwrap();
        let signer = Signer::from_pem("https://a.example/u/x#main-key", &kp.private_pem).unwrap();
        let url = Url::parse("https://b.example/inbox").unwrap();
        let body = br#"{"type":"Like"}"#;
        let now = SystemTime::now();
        let s = signer.sign("POST", &url, Some(body), now);
        let covered = "(request-target) host (created) digest";
        for created in ["253402300799", "0", "1"] {
            let mut req = incoming(&s, "/inbox", Some(body));
            let header = with_params(&s, &format!("created={created}"), covered);
            req.headers.insert("Signature".into(), header);
            let r = check(req, &VerifyPolicy::default(), now);
            assert!(matches!(r, Err(SignatureError::Expired(_))), "{r:?}");
        }
        // A far (expires) is not a problem by itself; a past one is.
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        for (expires, ok) in [("253402300799", true), ("1", false)] {
            let mut req = incoming(&s, "/inbox", Some(body));
            let header = with_params(
                &s,
                &format!("created={secs},expires={expires}"),
                "(request-target) host (created) (expires) digest",
            );
            req.headers.insert("Signature".into(), header);
            let r = check(req, &VerifyPolicy::default(), now);
            assert_eq!(r.is_ok(), ok, "{expires}: {r:?}");
        }
    }

    #[test]
    fn a_signature_must_cover_host_and_date() {
        let kp = keypair::generate().unwrap();
        let signer = Signer::from_pem("k", &kp.private_pem).unwrap();
        let url = Url::parse("https://b.example/inbox").unwrap();
        let s = signer.sign("GET", &url, None, SystemTime::now());
        let mut req = incoming(&s, "/inbox", None);
        req.method = "GET";
        // Claim only (request-target) was signed.
        let sig = s.signature.replace(
            "headers=\"(request-target) host date\"",
            "headers=\"(request-target)\"",
        );
        req.headers.insert("Signature".into(), sig);
        assert!(matches!(
            check(req, &VerifyPolicy::default(), SystemTime::now()),
            Err(SignatureError::HeaderNotSigned(h)) if h.contains("host")
        ));
    }
}
