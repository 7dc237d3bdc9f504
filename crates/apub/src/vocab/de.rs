//! Lenient field readers: every peer sends some field in another shape (a string or an array,
//! an embedded object or its URI, a language as an object or a code). Each reader takes what
//! it can use and turns the rest into "absent" instead of failing the whole document: a
//! missing optional field must never cost us an activity.

use activitypub_federation::kinds::public;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use url::Url;

/// An absolute URL with a host from a string (`Public` aliases mapped to the public URI).
pub(crate) fn parse_url(s: &str) -> Option<Url> {
    let s = s.trim();
    if matches!(s, "Public" | "as:Public") {
        return Some(public());
    }
    Url::parse(s).ok().filter(|u| u.has_host())
}

/// The URL a value stands for: a string, an object's `id` (or a Link's `href`), or the first
/// usable entry of an array.
pub(crate) fn url_of(v: &Value) -> Option<Url> {
    match v {
        Value::String(s) => parse_url(s),
        Value::Object(m) => m
            .get("id")
            .and_then(Value::as_str)
            .or_else(|| m.get("href").and_then(Value::as_str))
            .and_then(parse_url),
        Value::Array(a) => a.iter().find_map(url_of),
        _ => None,
    }
}

/// Every URL a value stands for, deduplicated, unusable entries skipped.
pub(crate) fn urls_of(v: &Value) -> Vec<Url> {
    // activitypub_federation's reader handles the common shapes and the `Public` aliases; it
    // refuses the whole field when one entry is odd (an embedded object), so fall back to
    // reading entry by entry.
    if let Ok(list) = deserialize_one_or_many(v.clone()) {
        return list.into_iter().filter(|u| u.has_host()).collect();
    }
    let mut out: Vec<Url> = Vec::new();
    let items: &[Value] = match v {
        Value::Array(a) => a,
        other => std::slice::from_ref(other),
    };
    for item in items {
        if let Some(u) = url_of(item)
            && !out.contains(&u)
        {
            out.push(u);
        }
    }
    out
}

/// Entries of `attributedTo` read at most: software lists an author and a channel or two,
/// and a hostile list of thousands must not cost thousands of lookups (or quadratic work).
const ATTRIBUTIONS: usize = 8;

/// `attributedTo` read into who wrote the object and which communities it may name. The
/// authors are the entries typed as something other than `Group` (PeerTube lists the account
/// and its channel), else the first untyped entry; the community entries are those typed
/// `Group`, then the other untyped ones (a type is not required: whether an id is a community
/// is decided by what it turns out to be, never by this list). Deduplicated; unusable entries
/// skipped; only the first [`ATTRIBUTIONS`] entries are read.
pub(crate) fn attribution_of(v: &Value) -> (Vec<Url>, Vec<Url>) {
    let items: &[Value] = match v {
        Value::Array(a) => a,
        other => std::slice::from_ref(other),
    };
    let (mut typed, mut groups, mut untyped) = (Vec::new(), Vec::new(), Vec::new());
    for item in items.iter().take(ATTRIBUTIONS) {
        let Some(u) = url_of(item) else { continue };
        let list = match item.get("type").and_then(kind_of).as_deref() {
            Some("Group") => &mut groups,
            Some(_) => &mut typed,
            None => &mut untyped,
        };
        if !list.contains(&u) {
            list.push(u);
        }
    }
    if typed.is_empty() && !untyped.is_empty() {
        typed.push(untyped.remove(0));
    }
    groups.retain(|u| !typed.contains(u));
    for u in untyped {
        if !groups.contains(&u) && !typed.contains(&u) {
            groups.push(u);
        }
    }
    (typed, groups)
}

/// Text from a string, or from the first string of an array.
pub(crate) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(|x| x.as_str().map(str::to_string)),
        _ => None,
    }
}

/// A timestamp in RFC 3339, as every peer sends it.
pub(crate) fn time_of(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A boolean, also from the strings `"true"` / `"false"`.
pub(crate) fn flag_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A language code from Lemmy's `{"identifier": "fr", "name": ...}`, an array of those, or a
/// plain code.
pub(crate) fn language_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(m) => m
            .get("identifier")
            .and_then(Value::as_str)
            .map(str::to_string),
        Value::Array(a) => a.iter().find_map(language_of),
        _ => None,
    }
}

/// The markdown source: `{"content": ..., "mediaType": ...}` or a plain string.
pub(crate) fn source_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("content").and_then(text_of),
        _ => None,
    }
}

/// The type name: a string, or the first string of an array (JSON-LD allows several).
pub(crate) fn kind_of(v: &Value) -> Option<String> {
    text_of(v).filter(|s| !s.is_empty())
}

macro_rules! serde_reader {
    ($name:ident, $inner:ident, $t:ty) => {
        pub(crate) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
            Ok($inner(&Value::deserialize(d)?))
        }
    };
}

serde_reader!(url, url_of, Option<Url>);
serde_reader!(urls, urls_of, Vec<Url>);
serde_reader!(text, text_of, Option<String>);
serde_reader!(time, time_of, Option<DateTime<Utc>>);
serde_reader!(flag, flag_of, Option<bool>);
serde_reader!(language, language_of, Option<String>);
serde_reader!(source, source_of, Option<String>);
serde_reader!(kind, kind_of, Option<String>);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_peers_send() {
        assert_eq!(
            urls_of(&json!("https://a.example/u/1")),
            vec![Url::parse("https://a.example/u/1").unwrap()]
        );
        assert_eq!(urls_of(&json!(["as:Public"])), vec![public()]);
        // One embedded object among strings: the strict reader fails, the fallback reads it.
        assert_eq!(
            urls_of(&json!(["https://a.example/u/1", {"id": "https://a.example/c/x"}, 5])).len(),
            2
        );
        assert!(urls_of(&json!(null)).is_empty());
        assert_eq!(
            url_of(&json!({"type": "Link", "href": "https://x.example/"})),
            Some(Url::parse("https://x.example/").unwrap())
        );
        assert_eq!(
            language_of(&json!([{"identifier": "de"}])),
            Some("de".into())
        );
        assert_eq!(flag_of(&json!("true")), Some(true));
        assert!(time_of(&json!("yesterday")).is_none());
        assert_eq!(source_of(&json!({"content": "md"})), Some("md".into()));
        // A hostile attributedTo of thousands: only the first few entries are read.
        let many: Vec<String> = (0..5000)
            .map(|i| format!("https://a.example/u/{i}"))
            .collect();
        let (authors, others) = attribution_of(&json!(many));
        assert_eq!(authors.len() + others.len(), ATTRIBUTIONS);
        assert_eq!(authors[0].as_str(), "https://a.example/u/0");
    }
}
