//! Activities shaped as Lemmy 0.19 sends them (compare `fixtures/activitypub/lemmy/`).
//!
//! A community relays everything that happens in it to the instances that follow it: the
//! inner activity (a vote, a comment, a post, an edit, a deletion) by its author, wrapped in
//! an `Announce` by the community and signed with the community's key. That is what a small
//! instance receives from lemmy.world almost all the time. A `Follow` of a community on the
//! receiving instance is the exception: the person sends it directly, signed with their key.
//!
//! Pure JSON builders; which activity comes next is decided in [`crate::workload`].

use serde_json::{Value, json};

/// The public collection.
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// The `@context` Lemmy 0.19 puts on what it sends.
pub fn context() -> Value {
    json!([
        "https://join-lemmy.org/context.json",
        "https://www.w3.org/ns/activitystreams"
    ])
}

/// Who and where: the sending instance's base URL, its community, the acting person.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `http://IP:PORT` of the sending instance.
    pub base: &'a str,
    /// The community's id.
    pub community: &'a str,
    /// The person's id.
    pub person: &'a str,
}

/// An activity id as Lemmy mints them: `<base>/activities/<kind>/<uuid>`.
pub fn activity_id(base: &str, kind: &str, uuid: &str) -> String {
    format!("{base}/activities/{kind}/{uuid}")
}

/// `Like` (score 1) or `Dislike` (score -1) of a post or comment.
pub fn vote(s: Scope<'_>, id: &str, object: &str, score: i8) -> Value {
    json!({
        "actor": s.person,
        "object": object,
        "audience": s.community,
        "type": if score > 0 { "Like" } else { "Dislike" },
        "id": id,
    })
}

/// `Undo` of a vote; like Lemmy, it wraps a new `Like` (its own id), not the original one.
pub fn undo_vote(s: Scope<'_>, id: &str, like_id: &str, object: &str) -> Value {
    json!({
        "actor": s.person,
        "object": vote(s, like_id, object, 1),
        "audience": s.community,
        "type": "Undo",
        "id": id,
    })
}

/// A post (`Page`) as served and embedded. `updated` makes it an edit.
pub fn page(s: Scope<'_>, id: &str, title: &str, body: &str, published: &str) -> Value {
    json!({
        "type": "Page",
        "id": id,
        "attributedTo": s.person,
        "to": [s.community, PUBLIC],
        "audience": s.community,
        "name": title,
        "content": format!("<p>{body}</p>\n"),
        "mediaType": "text/html",
        "source": { "content": body, "mediaType": "text/markdown" },
        "sensitive": false,
        "commentsEnabled": true,
        "stickied": false,
        "published": published,
    })
}

/// A comment (`Note`) replying to a post or to another comment.
pub fn note(s: Scope<'_>, id: &str, in_reply_to: &str, body: &str, published: &str) -> Value {
    json!({
        "type": "Note",
        "id": id,
        "attributedTo": s.person,
        "to": [PUBLIC],
        "cc": [s.community],
        "audience": s.community,
        "content": format!("<p>{body}</p>\n"),
        "mediaType": "text/html",
        "source": { "content": body, "mediaType": "text/markdown" },
        "inReplyTo": in_reply_to,
        "published": published,
    })
}

/// `Create` or `Update` of a post or comment by its author.
pub fn create_or_update(s: Scope<'_>, kind: &str, id: &str, object: Value) -> Value {
    json!({
        "actor": s.person,
        "to": [PUBLIC],
        "object": object,
        "cc": [s.community],
        "audience": s.community,
        "type": kind,
        "id": id,
    })
}

/// `Delete` of a post or comment by its author (no `summary`: a deletion, not a removal).
pub fn delete(s: Scope<'_>, id: &str, object: &str) -> Value {
    json!({
        "actor": s.person,
        "to": [PUBLIC],
        "object": object,
        "cc": [s.community],
        "audience": s.community,
        "type": "Delete",
        "id": id,
    })
}

/// The community's `Announce` of `inner` to its followers, as received (with `@context`).
pub fn announce(community: &str, id: &str, inner: Value) -> Value {
    json!({
        "@context": context(),
        "actor": community,
        "to": [PUBLIC],
        "object": inner,
        "cc": [format!("{community}/followers")],
        "type": "Announce",
        "id": id,
    })
}

/// A person's `Follow` of a community on another instance, sent to that community's inbox.
pub fn follow(person: &str, id: &str, community: &str) -> Value {
    json!({
        "@context": context(),
        "actor": person,
        "to": [community],
        "object": community,
        "type": "Follow",
        "id": id,
    })
}

/// `Undo` of a follow; like Lemmy, it wraps a new `Follow` (its own id).
pub fn undo_follow(person: &str, id: &str, follow_id: &str, community: &str) -> Value {
    let mut inner = follow(person, follow_id, community);
    if let Some(o) = inner.as_object_mut() {
        o.remove("@context");
    }
    json!({
        "@context": context(),
        "actor": person,
        "to": [community],
        "object": inner,
        "type": "Undo",
        "id": id,
    })
}
