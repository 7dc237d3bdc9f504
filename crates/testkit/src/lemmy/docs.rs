//! Documents built from the fixtures' object templates (`objects/*.json`), and the small
//! activities tests compose around the fixtures (votes, follows, deletes, Undos).
//!
//! Ids passed in are used as given: build them with [`Hosts::map`](super::Hosts::map) when
//! they name fixture hosts. Activity ids are minted on the actor's origin, as the receiver
//! demands.

use serde_json::{Value, json};

/// The ActivityStreams public collection.
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

fn object(rel: &str) -> Value {
    let path = crate::lemmy_fixtures().join("objects").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `scheme://host[:port]` of `id`.
///
/// # Panics
/// If `id` is not a URL.
pub fn origin(id: &str) -> String {
    let u = url::Url::parse(id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
    u.origin().ascii_serialization()
}

/// `host[:port]` of `id` (an instance's `domain`).
///
/// # Panics
/// If `id` is not a URL with a host.
pub fn authority(id: &str) -> String {
    let u = url::Url::parse(id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
    let host = u.host_str().unwrap_or_else(|| panic!("{id:?} has no host"));
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The last path segment of `id` (an actor's name).
pub fn last_segment(id: &str) -> String {
    id.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A Person document (from `objects/person.json`) with the fixture's key.
pub fn person(id: &str) -> Value {
    let mut p = object("person.json");
    p["id"] = json!(id);
    p["preferredUsername"] = json!(last_segment(id));
    p["inbox"] = json!(format!("{id}/inbox"));
    p["outbox"] = json!(format!("{id}/outbox"));
    p["endpoints"]["sharedInbox"] = json!(format!("{}/inbox", origin(id)));
    p["publicKey"]["id"] = json!(format!("{id}#main-key"));
    p["publicKey"]["owner"] = json!(id);
    p
}

/// A Group document (from `objects/group.json`) with the fixture's key.
pub fn group(id: &str) -> Value {
    let mut g = object("group.json");
    g["id"] = json!(id);
    g["preferredUsername"] = json!(last_segment(id));
    g["inbox"] = json!(format!("{id}/inbox"));
    g["outbox"] = json!(format!("{id}/outbox"));
    g["followers"] = json!(format!("{id}/followers"));
    g["attributedTo"] = json!(format!("{id}/moderators"));
    g["featured"] = json!(format!("{id}/featured"));
    g["endpoints"]["sharedInbox"] = json!(format!("{}/inbox", origin(id)));
    g["publicKey"]["id"] = json!(format!("{id}#main-key"));
    g["publicKey"]["owner"] = json!(id);
    if let Some(m) = g.as_object_mut() {
        m.remove("updated");
    }
    g
}

/// A Page (post) document (from `objects/page.json`).
pub fn page(id: &str, author: &str, community: &str) -> Value {
    let mut p = object("page.json");
    p["id"] = json!(id);
    p["attributedTo"] = json!(author);
    p["to"] = json!([community, PUBLIC]);
    p["audience"] = json!(community);
    if let Some(m) = p.as_object_mut() {
        m.remove("tag");
        m.remove("context");
    }
    p
}

/// A Note (comment) document (from `objects/comment.json`).
pub fn note(id: &str, author: &str, in_reply_to: &str, community: &str) -> Value {
    let mut n = object("comment.json");
    n["id"] = json!(id);
    n["attributedTo"] = json!(author);
    n["to"] = json!([community, PUBLIC]);
    n["cc"] = json!([]);
    n["audience"] = json!(community);
    n["inReplyTo"] = json!(in_reply_to);
    if let Some(m) = n.as_object_mut() {
        m.remove("tag");
        m.remove("context");
        m.remove("updated");
    }
    n
}

fn activity_id(actor: &str, kind: &str) -> String {
    format!(
        "{}/activities/{kind}/{:016x}",
        origin(actor),
        rand::random::<u64>()
    )
}

/// `kind` (`Create`, `Update`) of `object` by `actor`.
pub fn wrap(kind: &str, actor: &str, object: Value) -> Value {
    json!({
        "id": activity_id(actor, &kind.to_lowercase()),
        "type": kind,
        "actor": actor,
        "to": [PUBLIC],
        "cc": object.get("audience").cloned().into_iter().collect::<Vec<_>>(),
        "object": object,
    })
}

/// A Like (`score` 1) or Dislike (-1).
pub fn vote(actor: &str, object: &str, score: i32) -> Value {
    let kind = if score > 0 { "Like" } else { "Dislike" };
    json!({
        "id": activity_id(actor, &kind.to_lowercase()),
        "type": kind,
        "actor": actor,
        "object": object,
    })
}

/// An Undo of `inner` by its actor.
///
/// # Panics
/// If `inner` has no string `actor`.
pub fn undo(inner: &Value) -> Value {
    let actor = inner["actor"]
        .as_str()
        .expect("the undone activity's actor");
    json!({
        "id": activity_id(actor, "undo"),
        "type": "Undo",
        "actor": actor,
        "object": inner,
    })
}

/// A Delete of `object` by `actor`.
pub fn delete(actor: &str, object: &str) -> Value {
    json!({
        "id": activity_id(actor, "delete"),
        "type": "Delete",
        "actor": actor,
        "to": [PUBLIC],
        "object": object,
    })
}

/// A Follow of `community` by `actor`.
pub fn follow(actor: &str, community: &str) -> Value {
    json!({
        "id": activity_id(actor, "follow"),
        "type": "Follow",
        "actor": actor,
        "to": [community],
        "object": community,
    })
}
