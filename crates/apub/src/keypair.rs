//! RSA key pairs for HTTP signatures.

use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;

/// A PEM key pair: public (SPKI) and private (PKCS#8).
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// `-----BEGIN PUBLIC KEY-----`.
    pub public_pem: String,
    /// `-----BEGIN PRIVATE KEY-----`.
    pub private_pem: String,
}

/// Key generation failed.
#[derive(Debug, thiserror::Error)]
#[error("generating an RSA key pair: {0}")]
pub struct KeyGenError(String);

/// A new RSA-2048 key pair (activitypub_federation's generator, as Lemmy uses).
pub fn generate() -> Result<KeyPair, KeyGenError> {
    let k = activitypub_federation::http_signatures::generate_actor_keypair()
        .map_err(|e| KeyGenError(e.to_string()))?;
    Ok(KeyPair {
        public_pem: k.public_key,
        private_pem: k.private_key,
    })
}

/// Parses a public key as peers publish it: SPKI (`BEGIN PUBLIC KEY`, Lemmy, Mastodon) or
/// PKCS#1 (`BEGIN RSA PUBLIC KEY`, some older software).
pub fn parse_public(pem: &str) -> Option<RsaPublicKey> {
    let pem = pem.trim();
    RsaPublicKey::from_public_key_pem(pem)
        .ok()
        .or_else(|| RsaPublicKey::from_pkcs1_pem(pem).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        let k = generate().unwrap();
        assert!(k.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(parse_public(&k.public_pem).is_some());
        assert!(parse_public("garbage").is_none());
    }
}
