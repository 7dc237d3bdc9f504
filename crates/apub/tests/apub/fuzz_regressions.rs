//! Inputs the fuzz targets (fuzz/) found crashing, each kept as a test so it stays fixed.

use sluice_apub::Rc;
use sluice_apub::signature::{Incoming, VerifyPolicy, check};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

fn signed_request(header_name: &str, signature: &str) -> Incoming<'static> {
    let mut headers = BTreeMap::new();
    headers.insert(header_name.to_string(), signature.to_string());
    headers.insert("Host".into(), "b.example".into());
    Incoming {
        method: "GET",
        path_and_query: "/inbox",
        headers,
        body: None,
    }
}

/// The fuzzer's `signature_header` crash: `created`/`expires` values past what a
/// `SystemTime` holds made the signature library panic ("overflow when adding duration to
/// `SystemTime`"). Each is now a `SignatureMalformed` refusal, in either header, quoted or not.
#[test]
fn signature_times_beyond_any_clock_are_refused_not_a_panic() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let values = [
        "created=18446744073709551615",
        "created=\"18000180000000000000\"",
        "created=9223372036854775807",
        "created=9223372032559808512",
        "created=253402300800",
        "created=1800000000,expires=18446744073709551615",
        "created=1800000000,expires=+9223372036854775807",
    ];
    for times in values {
        for header_name in ["Signature", "Authorization"] {
            let header = format!(
                "{}keyId=\"https://a.example/u/x#main-key\",algorithm=\"hs2019\",{times},\
                 headers=\"(request-target) (created) host\",signature=\"AAAA\"",
                if header_name == "Authorization" {
                    "Signature "
                } else {
                    ""
                }
            );
            let err = check(
                signed_request(header_name, &header),
                &VerifyPolicy::default(),
                now,
            )
            .expect_err(&header);
            assert_eq!(err.rc(), Rc::SignatureMalformed, "{header}: {err}");
        }
    }
}

/// The largest accepted `created` (the end of the year 9999) is only too far in the future.
#[test]
fn the_last_representable_signature_time_is_judged_by_the_window() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let header = "keyId=\"https://a.example/u/x#main-key\",created=253402300799,\
                  headers=\"(request-target) (created) host\",signature=\"AAAA\"";
    let err = check(
        signed_request("Signature", header),
        &VerifyPolicy::default(),
        now,
    )
    .unwrap_err();
    assert_eq!(err.rc(), Rc::SignatureExpired, "{err}");
}
