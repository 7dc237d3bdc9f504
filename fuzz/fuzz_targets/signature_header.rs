//! The key-less signature checks the inbox runs on every request, before any key lookup:
//! the `Signature` header parser, covered headers, the time window, the `Digest` against the
//! body; then the RSA step with a fixed key (what an unauthenticated stranger reaches).
//!
//! Input, one field a line: `Signature`, `Date`, `Digest`, `Host`, `method path`, then the
//! body (the rest, any bytes). An empty line leaves that header out; an empty method line
//! is a `POST /inbox`. "Now" is fixed (2027-01-15T08:00:00Z, Unix 1800000000) so the seeds'
//! dates stay inside the window and runs are reproducible.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use sluice_apub::signature::{Incoming, VerifyPolicy, check};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

const NOW: u64 = 1_800_000_000;

/// Any 2048-bit key: the point is that the verification step never panics, not that it
/// succeeds.
const KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs7Q0fl8SpWcKp5xLw+4N
vXqdAvGC7udK2MQ6ZFZ9A+egAVpaovfz3xjBIIlCQNBcADa99vjiAVz3gYopGwNZ
5xiE18gFtGFzrg+2yivUYU2etSe+4EhLQ12iuyW3salHIAZmv0OHuDXOHcsnEkhy
HNJIFIEsPcZFBa1jDkuUWeZiebOJN3JlLua0ceITkfxvqRCZXF4J+pzMBeSiEOUI
G2+I5nrMOi6bXKAB6X/ZPYGX+htND8izaUgd3ni4GbzPs9DPxWs9PadqjzveaE+x
+vYG3gdl9m6zEugRkrYKN5csXKFrj2Yag6iDLES7WeKPi8IbkhMTUVU+qPX9mnF7
2QIDAQAB
-----END PUBLIC KEY-----";

static KEY: LazyLock<RsaPublicKey> = LazyLock::new(|| {
    RsaPublicKey::from_public_key_pem(KEY_PEM).expect("the fixed key is a valid PEM")
});

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(6, |b| *b == b'\n');
    let mut next = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let (signature, date, digest, host, request) = (next(), next(), next(), next(), next());
    let body_start = data
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4)
        .map_or(data.len(), |(i, _)| i + 1);
    let body = &data[body_start..];

    let mut headers = BTreeMap::new();
    for (name, value) in [
        ("Signature", signature),
        ("Date", date),
        ("Digest", digest),
        ("Host", host),
    ] {
        if !value.is_empty() {
            headers.insert(name.to_string(), value);
        }
    }
    let (method, path) = request.split_once(' ').unwrap_or(("POST", "/inbox"));
    let req = Incoming {
        method,
        path_and_query: path,
        headers,
        body: (method != "GET").then_some(body),
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    if let Ok(checked) = check(req, &VerifyPolicy::default(), now) {
        let _ = checked.verify(&KEY);
    }
});
