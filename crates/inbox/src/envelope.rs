//! Is the body an activity we can journal (the *intake* and *envelope* steps of
//! [`crate::receive`])? Cheap checks first: the media type, then a byte scan for nesting
//! depth (before any parser builds a tree), then one parse that extracts the few fields the
//! request path needs.

use crate::Refusal;
use sluice_apub::Rc;
use sluice_apub::urls::authority;
use url::Url;

/// The fields of an activity the request path looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `id`: the key the journal deduplicates on.
    pub id: Url,
    /// `type` (the first one, when several are given).
    pub kind: String,
    /// `actor` (a URI, or the `id` of an embedded actor).
    pub actor: Url,
    /// The `object`'s id, when it has one (to recognise `Delete` of the actor itself).
    pub object_id: Option<String>,
}

impl Envelope {
    /// The actor's instance, `host[:port]` as instance policy names it.
    pub fn actor_host(&self) -> String {
        authority(&self.actor)
    }
}

/// True for the media types ActivityPub senders use; lenient about parameters, case and a
/// missing header (the body is checked anyway).
pub fn acceptable_media_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/activity+json" | "application/ld+json" | "application/json" | ""
    )
}

/// Longest number literal accepted. Honest numbers are at most ~25 characters (an f64's
/// shortest form, a u64); the bound keeps every accepted literal far inside what PostgreSQL's
/// `numeric` stores (16,383 digits after the point).
const MAX_NUMBER_LEN: usize = 256;

/// Largest decimal exponent accepted: beyond f64's range either way, and PostgreSQL refuses
/// exponents beyond ±1,000 even on zero.
const MAX_EXPONENT: i64 = 400;

/// Scans the raw bytes: nesting depth at most `max_depth`, no `\u0000` escape (PostgreSQL
/// text cannot hold the NUL it stands for, so content parsed from it could never be
/// written), and every number inside f64's range (`number_in_range`). Runs before
/// parsing, so a deeply nested body costs a linear scan and nothing more.
pub fn scan(body: &[u8], max_depth: usize) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_string {
            match b {
                b'\\' => {
                    if body.get(i + 1) == Some(&b'u') && body.get(i + 2..i + 6) == Some(b"0000") {
                        return Err(Refusal::new(
                            Rc::JsonMalformed,
                            "the JSON contains \\u0000, which cannot be stored",
                        ));
                    }
                    i += 1; // skip the escaped character
                }
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > max_depth {
                        return Err(Refusal::new(
                            Rc::JsonTooDeep,
                            format!("the JSON nests deeper than {max_depth} levels"),
                        ));
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                b'-' | b'0'..=b'9' => {
                    let len = body[i..]
                        .iter()
                        .take_while(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                        .count();
                    number_in_range(&body[i..i + len])?;
                    i += len;
                    continue;
                }
                _ => {}
            }
        }
        i += 1;
    }
    Ok(())
}

/// A number literal must be one f64 can hold and PostgreSQL can store: not so large that it
/// overflows (`1e400`), not so small that it underflows to zero while not being zero
/// (`1e-20000`, which serde reads as 0 and PostgreSQL refuses), with an exponent within
/// ±[`MAX_EXPONENT`] and at most [`MAX_NUMBER_LEN`] characters. A token that is not a
/// number at all is left to the parser (400 `JsonMalformed`).
fn number_in_range(token: &[u8]) -> Result<(), Refusal> {
    let out_of_range = || {
        let shown = String::from_utf8_lossy(&token[..token.len().min(40)]).into_owned();
        Refusal::new(
            Rc::NumberOutOfRange,
            format!("the number {shown}... is outside the range sluice stores (f64)"),
        )
    };
    if token.len() > MAX_NUMBER_LEN {
        return Err(out_of_range());
    }
    let Ok(text) = std::str::from_utf8(token) else {
        return Ok(());
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    if let Some(exp) = exponent {
        let digits = exp.trim_start_matches(['+', '-']);
        let magnitude = digits.trim_start_matches('0');
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (magnitude.len() > 4 || magnitude.parse::<i64>().unwrap_or(0) > MAX_EXPONENT)
        {
            return Err(out_of_range());
        }
    }
    let Ok(value) = text.parse::<f64>() else {
        return Ok(());
    };
    let nonzero = mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'));
    if value.is_infinite() || (value == 0.0 && nonzero) {
        return Err(out_of_range());
    }
    Ok(())
}

/// Parses the body and extracts the envelope.
pub fn parse(body: &[u8]) -> Result<Envelope, Refusal> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::new(Rc::JsonMalformed, format!("the body is not JSON: {e}")))?;
    let not_activity = |what: &str| Refusal::new(Rc::NotAnActivity, what.to_string());
    let obj = v
        .as_object()
        .ok_or_else(|| not_activity("the body is not a JSON object"))?;
    let id = obj
        .get("id")
        .and_then(|v| v.as_str())
        .and_then(http_url)
        .ok_or_else(|| not_activity("the activity has no id (an absolute http(s) URL)"))?;
    let kind = match obj.get("type") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(a)) => a.iter().find_map(|t| t.as_str()).map(str::to_string),
        _ => None,
    }
    .filter(|k| !k.is_empty())
    .ok_or_else(|| not_activity("the activity has no type"))?;
    let actor = obj
        .get("actor")
        .and_then(id_of)
        .and_then(http_url)
        .ok_or_else(|| not_activity("the activity has no actor (an absolute http(s) URL)"))?;
    let object_id = obj.get("object").and_then(id_of).map(str::to_string);
    Ok(Envelope {
        id,
        kind,
        actor,
        object_id,
    })
}

/// A reference as ActivityStreams allows it: a URI, an object with an `id`, or a
/// one-element array of either.
fn id_of(v: &serde_json::Value) -> Option<&str> {
    match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Object(o) => o.get("id")?.as_str(),
        serde_json::Value::Array(a) if a.len() == 1 => id_of(&a[0]),
        _ => None,
    }
}

fn http_url(s: &str) -> Option<Url> {
    let u = Url::parse(s).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some()).then_some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_checked_outside_strings_only() {
        assert!(scan(br#"{"a":[[["x"]]]}"#, 4).is_ok());
        assert_eq!(
            scan(br#"{"a":[[[["x"]]]]}"#, 4).unwrap_err().rc,
            Rc::JsonTooDeep
        );
        // Brackets inside strings, and escaped quotes, do not count.
        assert!(scan(br#"{"a":"[[[[[\"{{{{"}"#, 2).is_ok());
        let deep = "[".repeat(100_000);
        assert_eq!(scan(deep.as_bytes(), 32).unwrap_err().rc, Rc::JsonTooDeep);
    }

    #[test]
    fn nul_escapes_are_refused_but_an_escaped_backslash_is_not_one() {
        assert_eq!(
            scan(br#"{"a":"x\u0000"}"#, 8).unwrap_err().rc,
            Rc::JsonMalformed
        );
        assert!(scan(br#"{"a":"x\\u0000"}"#, 8).is_ok());
    }

    #[test]
    fn numbers_beyond_f64_are_refused_and_honest_ones_pass() {
        let body = |n: &str| format!(r#"{{"id":"https://a.example/1","n":[{n}],"s":"1e400"}}"#);
        for bad in [
            "1e400",
            "-1e400",
            "1E+400",
            "1e-20000",
            "-1e-20000",
            "0.0000001e-400",
            "1e-400",
            "0e1001",
            "0e-99999999999999999999",
            "1e99999999999999999999999",
            &"9".repeat(400),
            &format!("0.{}1", "0".repeat(400)),
            &format!("1.{}", "0".repeat(20_000)),
        ] {
            let r = scan(body(bad).as_bytes(), 8);
            assert_eq!(r.map_err(|e| e.rc), Err(Rc::NumberOutOfRange), "{bad}");
        }
        for good in [
            "0",
            "-0",
            "0.0",
            "1",
            "-1",
            "1.5",
            "1e308",
            "-1.7976931348623157e308",
            "5e-324",
            "1e-300",
            "0e0",
            "18446744073709551615",
            "-9223372036854775808",
            "123.456e-7",
        ] {
            assert!(scan(body(good).as_bytes(), 8).is_ok(), "{good}");
        }
        // Inside strings nothing is a number; keys and escaped quotes do not confuse it.
        assert!(scan(br#"{"1e400":"1e-20000\"1e400"}"#, 8).is_ok());
        // Not numbers: left to the parser.
        assert!(scan(b"{\"n\":--1}", 8).is_ok());
        assert_eq!(parse(b"{\"n\":--1}").unwrap_err().rc, Rc::JsonMalformed);
    }

    #[test]
    fn envelopes_accept_embedded_and_arrayed_references() {
        let e = parse(
            br#"{"id":"https://a.example/x","type":["Delete"],"actor":{"id":"https://a.example/u/1"},"object":["https://a.example/u/1"]}"#,
        )
        .unwrap();
        assert_eq!(e.kind, "Delete");
        assert_eq!(e.actor_host(), "a.example");
        assert_eq!(e.object_id.as_deref(), Some("https://a.example/u/1"));
        assert_eq!(parse(b"{").unwrap_err().rc, Rc::JsonMalformed);
        assert_eq!(parse(b"[]").unwrap_err().rc, Rc::NotAnActivity);
        assert_eq!(
            parse(br#"{"id":"urn:x","type":"Like","actor":"https://a.example/u"}"#)
                .unwrap_err()
                .rc,
            Rc::NotAnActivity
        );
    }

    #[test]
    fn media_types_are_matched_leniently() {
        assert!(acceptable_media_type(Some("application/activity+json")));
        assert!(acceptable_media_type(Some(
            r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#
        )));
        assert!(acceptable_media_type(Some(
            "Application/JSON; charset=utf-8"
        )));
        assert!(acceptable_media_type(None));
        assert!(!acceptable_media_type(Some("text/html")));
        assert!(!acceptable_media_type(Some(
            "application/x-www-form-urlencoded"
        )));
    }
}
