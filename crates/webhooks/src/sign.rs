//! The signature of a delivery: Stripe's scheme with GitHub's header format.
//!
//! `X-Sluice-Timestamp: <unix seconds>` and
//! `X-Sluice-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//! The timestamp is inside the MAC (as Stripe's `t=`), so a receiver that rejects
//! timestamps older than a few minutes cannot be fed a recorded delivery again; the
//! `sha256=` prefix is GitHub's `X-Hub-Signature-256` form. Each attempt is signed anew.

use ring::hmac;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Sluice-Signature";
/// The timestamp header (Unix seconds, also covered by the signature).
pub const TIMESTAMP_HEADER: &str = "X-Sluice-Timestamp";
/// The event type header (also the body's `event`).
pub const EVENT_HEADER: &str = "X-Sluice-Event";
/// The event id header (also the body's `id`): the same at every attempt.
pub const DELIVERY_HEADER: &str = "X-Sluice-Delivery";

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::signature;

    /// Against values computed independently (Python's `hmac` module).
    #[test]
    fn hmac_sha256_over_timestamp_dot_body() {
        assert_eq!(
            signature("key", 1, b"{}"),
            "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
        assert_eq!(
            signature(
                "whsec_test",
                1_700_000_000,
                br#"{"event":"report.received","id":1}"#
            ),
            "sha256=0d1fd13d58dbfb356d193cdc0f2ea28a17751828d9aca72fcadbdbf07f45027d"
        );
    }
}
