//! The activity as a script sees it: the JSON converted once, and the few facts nearly every
//! plugin needs read out of it (what is done, by whom, from which host, to what, relayed by
//! whom).

use rhai::{Dynamic, Scope};
use serde_json::Value;
use std::sync::{Mutex, MutexGuard};
use url::Url;

/// An activity prepared for evaluation. Prepare it once and give it to each plugin in turn;
/// prepare a new one after a plugin rewrote the activity.
///
/// The script's names are built once, as constants of one scope that every plugin runs in
/// (its own variables are dropped after it): converting the activity costs more than a
/// small plugin's run. Constants cannot be changed by a script, so no plugin sees what
/// another did.
#[derive(Debug)]
pub struct Activity {
    scope: Mutex<Scope<'static>>,
    base: usize,
}

/// The activity is not a JSON object a script can be given.
#[derive(Debug, thiserror::Error)]
#[error("the activity cannot be given to a script: {0}")]
pub struct ActivityError(String);

impl Activity {
    /// Reads `activity`. An Announce of an activity (how a community relays its content) is
    /// seen through: `kind`, `actor` and `object` are the announced activity's, `via` is the
    /// announcing actor.
    pub fn new(activity: &Value) -> Result<Activity, ActivityError> {
        if !activity.is_object() {
            return Err(ActivityError("not a JSON object".into()));
        }
        let json = rhai::serde::to_dynamic(activity).map_err(|e| ActivityError(e.to_string()))?;
        let announced = announced(activity);
        let (acting, via) = match announced {
            Some(inner) => (inner, text(activity.get("actor")).into()),
            None => (activity, Dynamic::UNIT),
        };
        let actor = text(acting.get("actor")).to_owned();
        let path: &[&str] = match announced {
            Some(_) => &["object", "object"],
            None => &["object"],
        };
        let object = member(&json, path);
        let mut scope = Scope::new();
        scope.push_constant_dynamic("activity", json);
        scope.push_constant("kind", kind_of(acting).to_owned());
        scope.push_constant("host", host_of(&actor));
        scope.push_constant("actor", actor);
        scope.push_constant_dynamic("object", object);
        scope.push_constant_dynamic("via", via);
        let base = scope.len();
        Ok(Activity {
            scope: Mutex::new(scope),
            base,
        })
    }

    /// The scope a script runs in, holding only the names above (what the previous script
    /// added is gone).
    pub(crate) fn scope(&self) -> MutexGuard<'_, Scope<'static>> {
        // A poisoned lock is a panic mid-evaluation; the constants are intact.
        let mut scope = self.scope.lock().unwrap_or_else(|e| e.into_inner());
        scope.rewind(self.base);
        scope
    }

    /// The activity, as JSON again (for checking a rewrite against it).
    pub(crate) fn json(&self) -> Result<Value, String> {
        let scope = self.scope();
        let json = scope.get("activity").ok_or("no activity")?;
        rhai::serde::from_dynamic(json).map_err(|e| e.to_string())
    }
}

/// The activity an Announce of an activity carries (how a community relays its content).
fn announced(activity: &Value) -> Option<&Value> {
    activity
        .get("object")
        .filter(|inner| kind_of(activity) == "Announce" && inner.get("actor").is_some())
}

/// The `kind` a script sees for `activity` (the announced activity's type for an Announce
/// of an activity), read without preparing the activity: what a plugin's declared types
/// are compared with.
pub fn kind_seen(activity: &Value) -> &str {
    kind_of(announced(activity).unwrap_or(activity))
}

/// A copy of the member at `path` down nested maps, or `()`.
fn member(value: &Dynamic, path: &[&str]) -> Dynamic {
    let Some((key, rest)) = path.split_first() else {
        return value.clone();
    };
    value
        .read_lock::<rhai::Map>()
        .and_then(|m| m.get(*key).map(|inner| member(inner, rest)))
        .unwrap_or(Dynamic::UNIT)
}

/// The `type` of an activity or object (the first one when it is a list).
fn kind_of(v: &Value) -> &str {
    match v.get("type") {
        Some(Value::Array(kinds)) => text(kinds.first()),
        other => text(other),
    }
}

/// A string, or the `id` of an embedded object; empty otherwise.
fn text(v: Option<&Value>) -> &str {
    match v {
        Some(Value::String(s)) => s,
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).unwrap_or(""),
        _ => "",
    }
}

/// The host of a URL, lower-cased, without port; empty when it has none.
pub(crate) fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// Whether `host` is `domain` or one of its subdomains (how instance blocks match).
pub(crate) fn domain_matches(host: &str, domain: &str) -> bool {
    let (host, domain) = (host.to_ascii_lowercase(), domain.to_ascii_lowercase());
    let domain = domain.trim_start_matches('.');
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.')))
}

/// Most URLs [`urls_in`] returns: past it a text is not worth reading link by link.
pub const MAX_URLS: usize = 256;

/// The http(s) URLs in `text` (plain text, Markdown or HTML), in order, at most
/// [`MAX_URLS`].
pub(crate) fn urls_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while found.len() < MAX_URLS {
        let Some(start) = find_scheme(rest) else {
            break;
        };
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || "\"'<>()[]{}`|\\^".contains(c))
            .unwrap_or(tail.len());
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if url.len() > "https://".len() {
            found.push(url.to_owned());
        }
        rest = &tail[end.max(1)..];
    }
    found
}

fn find_scheme(text: &str) -> Option<usize> {
    let lower = |i: usize, s: &str| {
        text.get(i..i + s.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(s))
    };
    text.char_indices()
        .map(|(i, _)| i)
        .find(|&i| lower(i, "http://") || lower(i, "https://"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_announce_is_seen_through_to_the_announced_activity() {
        let a = Activity::new(&json!({
            "type": "Announce", "actor": "https://c.example/c/main",
            "object": {"type": "Create", "actor": "https://u.example/u/bob",
                       "object": {"type": "Page", "id": "https://u.example/post/1"}}
        }))
        .unwrap();
        let name = |a: &Activity, n: &str| a.scope().get_value::<Dynamic>(n).unwrap().to_string();
        assert_eq!(name(&a, "kind"), "Create");
        assert_eq!(name(&a, "actor"), "https://u.example/u/bob");
        assert_eq!(name(&a, "host"), "u.example");
        assert_eq!(name(&a, "via"), "https://c.example/c/main");
        assert_eq!(
            kind_seen(
                &json!({"type": "Announce", "actor": "https://c.example/c/main",
            "object": {"type": "Undo", "actor": "https://u.example/u/bob"}})
            ),
            "Undo"
        );
        // An Announce of a bare object is the Announce itself.
        let b = Activity::new(
            &json!({"type": "Announce", "actor": "https://c.example/c/x",
                                      "object": "https://u.example/post/1"}),
        )
        .unwrap();
        assert_eq!(name(&b, "kind"), "Announce");
        assert_eq!(name(&b, "host"), "c.example");
        assert_eq!(
            kind_seen(&json!({"type": "Announce",
            "object": "https://u.example/post/1"})),
            "Announce"
        );
        assert!(Activity::new(&json!([1, 2])).is_err());
    }

    #[test]
    fn urls_are_found_in_html_and_markdown() {
        let text = r#"<p>see <a href="https://Spam.example/x?a=1">here</a>, and
            [md](http://b.example/y). Or HTTPS://c.example/z.</p> https:// alone"#;
        assert_eq!(
            urls_in(text),
            [
                "https://Spam.example/x?a=1",
                "http://b.example/y",
                "HTTPS://c.example/z"
            ]
        );
        assert_eq!(urls_in(&"https://a.example ".repeat(1000)).len(), MAX_URLS);
        assert_eq!(host_of("HTTPS://Spam.Example:8443/x"), "spam.example");
        assert_eq!(host_of("not a url"), "");
    }

    #[test]
    fn domains_match_themselves_and_their_subdomains_only() {
        assert!(domain_matches("spam.example", "spam.example"));
        assert!(domain_matches("a.b.spam.example", "Spam.Example"));
        assert!(!domain_matches("notspam.example", "spam.example"));
        assert!(!domain_matches("spam.example", ""));
    }
}
