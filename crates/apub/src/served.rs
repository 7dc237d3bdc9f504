//! Which of the activities sluice sent are served at their id (`GET <activity id>`), to
//! anyone, unsigned: as Lemmy does, so a peer can verify an Announce or an Accept by
//! fetching it from its origin.
//!
//! Served: an activity addressed to the public collection in `to` or `cc` (any of its
//! spellings: the full URI, `as:Public`, `Public`), and a community's answer to a Follow
//! (an `Accept` or `Reject` embedding the `Follow`). The answer is addressed to the follower
//! alone, but its id is derived from the Follow's id, which only the follower's side and we
//! know, and it tells nothing the followers count does not: a peer that checks the Accept
//! it received by fetching it must find it. Everything else (private messages, a local
//! user's Follow, anything addressed to named actors only, `bto`/`bcc`) is not served, and
//! is answered like an id that does not exist.

use crate::PUBLIC;
use serde_json::Value;

/// True when `raw`, an activity sluice sent, may be served at its id.
pub fn served_publicly(raw: &Value) -> bool {
    ["to", "cc"]
        .iter()
        .any(|field| raw.get(field).is_some_and(names_public))
        || is_follow_answer(raw)
}

fn names_public(v: &Value) -> bool {
    match v {
        Value::String(s) => matches!(s.trim(), PUBLIC | "as:Public" | "Public"),
        Value::Array(items) => items.iter().any(names_public),
        Value::Object(m) => m.get("id").is_some_and(names_public),
        _ => false,
    }
}

fn is_follow_answer(raw: &Value) -> bool {
    let kind = raw.get("type").and_then(Value::as_str);
    let object_kind = raw
        .get("object")
        .and_then(|o| o.get("type"))
        .and_then(Value::as_str);
    matches!(kind, Some("Accept" | "Reject")) && object_kind == Some("Follow")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn public_addressing_in_any_spelling_is_served() {
        for to in [
            json!(PUBLIC),
            json!(["https://a.example/u/x", "as:Public"]),
            json!({"id": "Public"}),
        ] {
            assert!(
                served_publicly(&json!({"type": "Create", "to": to})),
                "{to}"
            );
        }
        assert!(served_publicly(
            &json!({"type": "Announce", "to": [], "cc": [PUBLIC]})
        ));
    }

    #[test]
    fn follow_answers_are_served_and_private_activities_are_not() {
        let follow = json!({"type": "Follow", "id": "https://a.example/f/1"});
        assert!(served_publicly(
            &json!({"type": "Accept", "to": ["https://a.example/u/x"], "object": follow})
        ));
        assert!(served_publicly(
            &json!({"type": "Reject", "object": follow})
        ));
        for private in [
            json!({"type": "Create", "to": ["https://a.example/u/x"],
                "object": {"type": "ChatMessage"}}),
            json!({"type": "Follow", "to": ["https://a.example/c/x"]}),
            json!({"type": "Accept", "object": "https://a.example/f/1"}),
            json!({"type": "Create", "bto": [PUBLIC], "bcc": [PUBLIC]}),
            json!({"type": "Create", "to": "https://www.w3.org/ns/activitystreams#PublicX"}),
        ] {
            assert!(!served_publicly(&private), "{private}");
        }
    }
}
