//! Incoming vocabulary: typed, liberal parsing of the activities and objects Lemmy, Mastodon,
//! Mbin, PieFed, Friendica, PeerTube and WordPress send.
//!
//! Liberal in shape: `to`/`cc` as a string or an array, objects embedded or as URIs, a
//! `Page`, `Article`, `Video`, `Event`, `Note`, `Question` or `ChatMessage` where Lemmy would
//! send a `Page`, HTML `content` with an optional markdown `source`, optional fields missing
//! or of an unexpected type, extra `@context` terms (ignored). Strict where it matters: an
//! activity needs an absolute `id`, a `type` and an `actor`; content needs an author.
//!
//! Parsing is pure and never fetches: a reference that is only a URI stays one
//! ([`ObjectRef::Id`], [`ActivityRef::Id`], [`AnnounceObject::Id`]), and the pipeline decides
//! whether to look it up or fetch it. Semantics (who may do what, which community a post
//! belongs to) are the pipeline's; this module only says what was sent.

mod activity;
mod de;
mod object;
pub mod text;

pub use activity::{
    Activity, ActivityRef, AnnounceObject, MAX_REASON_CHARS, Verb, VerbType, is_activity_type,
};
pub use object::{
    ActorDoc, ActorKind, Content, ContentKind, MAX_TITLE_CHARS, Object, ObjectRef, PublicKeyDoc,
    Role, Tombstone, collection_items,
};

use url::Url;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The document is not a JSON object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A required field is missing or unusable.
    #[error("missing or invalid `{0}`")]
    Missing(&'static str),
    /// Activities nested deeper than anyone sends them.
    #[error("activities nested too deep")]
    TooDeep,
    /// Anything else.
    #[error("{0}")]
    Invalid(String),
}

/// True for the public collection (`as:Public` and `Public` are read as it too).
pub fn is_public(u: &Url) -> bool {
    u.as_str() == crate::PUBLIC
}

/// host[:port] of an id, lower case (the unit instances are identified by).
pub fn host(u: &Url) -> String {
    crate::urls::authority(u)
}

/// What an activity is about, for ordering on the wire: the innermost object of nested
/// activities (Announce(Create(Note)) → the Note; Undo(Like(post)) → the post), by id.
pub fn innermost_object(activity: &serde_json::Value) -> Option<String> {
    let mut v = activity.get("object")?;
    loop {
        if let Some(s) = v.as_str() {
            return Some(s.to_string());
        }
        match v.get("object") {
            // An embedded activity: what it is about.
            Some(inner) if v.get("actor").is_some() => v = inner,
            _ => return v.get("id").and_then(|i| i.as_str()).map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content(v: serde_json::Value) -> Content {
        match Object::parse(&v).unwrap() {
            Object::Content(c) => *c,
            other => panic!("not content: {other:?}"),
        }
    }

    #[test]
    fn other_software_shapes() {
        // Mastodon: a public Note to a group, language in contentMap, to as a string.
        let c = content(json!({
            "id": "https://m.example/users/a/statuses/1", "type": "Note",
            "attributedTo": "https://m.example/users/a",
            "to": "https://www.w3.org/ns/activitystreams#Public",
            "cc": ["https://l.example/c/rust", "https://m.example/users/a/followers"],
            "contentMap": {"en": "<p>Hello <b>group</b></p>"},
        }));
        assert_eq!(c.role(), Role::Post);
        assert_eq!(c.title(), "Hello group");
        assert_eq!(c.language.as_deref(), Some("en"));
        assert_eq!(c.content.as_deref(), Some("<p>Hello <b>group</b></p>"));
        assert_eq!(
            c.community_candidates(),
            vec![Url::parse("https://l.example/c/rust").unwrap()]
        );

        // PeerTube: a Video attributed to a person and a channel, the link among several.
        let v = content(json!({
            "id": "https://p.example/videos/watch/1", "type": "Video", "name": "A video",
            "attributedTo": [{"type": "Person", "id": "https://p.example/accounts/a"},
                             {"type": "Group", "id": "https://p.example/video-channels/c"}],
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "url": [{"type": "Link", "mediaType": "video/mp4", "href": "https://p.example/v.mp4"},
                    {"type": "Link", "mediaType": "text/html", "href": "https://p.example/w/1"}],
            "sensitive": "false", "published": "not a date",
        }));
        assert_eq!(v.role(), Role::Post);
        assert_eq!(v.author().unwrap().as_str(), "https://p.example/accounts/a");
        assert_eq!(v.url.as_ref().unwrap().as_str(), "https://p.example/w/1");
        assert!(v.published.is_none());
        // Its channel is its community: a candidate before the addressees.
        assert_eq!(
            v.community_candidates(),
            vec![Url::parse("https://p.example/video-channels/c").unwrap()]
        );
        // The Group listed first does not make it the author; untyped entries after the
        // author are candidates; the Group alone is no author.
        let g = content(json!({
            "id": "https://p.example/v/2", "type": "Video",
            "attributedTo": [{"type": "Group", "id": "https://p.example/c/1"}, "https://p.example/a/1",
                             "https://p.example/c/2", {"type": "Person", "id": "https://p.example/a/2"}],
            "to": ["https://www.w3.org/ns/activitystreams#Public", "https://p.example/c/3"],
        }));
        assert_eq!(g.author().unwrap().as_str(), "https://p.example/a/2");
        let cands: Vec<String> = g
            .community_candidates()
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            cands,
            [
                "https://p.example/c/1",
                "https://p.example/a/1",
                "https://p.example/c/2",
                "https://p.example/c/3"
            ]
        );
        assert!(
            Object::parse(&json!({"id": "https://p.example/v/3", "type": "Video",
                "attributedTo": {"type": "Group", "id": "https://p.example/c/1"}}))
            .is_err()
        );

        // WordPress: an Article whose url is the post's page.
        let w = content(json!({
            "id": "https://w.example/?p=1", "type": "Article", "name": "Blog",
            "attributedTo": "https://w.example/author/a", "url": "https://w.example/blog",
            "content": "<p>x</p>", "to": ["https://www.w3.org/ns/activitystreams#Public"],
        }));
        assert_eq!(w.url.unwrap().as_str(), "https://w.example/blog");

        // A direct message from Mastodon: not public, no parent.
        let dm = content(json!({
            "id": "https://m.example/s/2", "type": "Note", "content": "hi",
            "attributedTo": "https://m.example/users/a", "to": ["https://l.example/u/b"],
        }));
        assert_eq!(dm.role(), Role::PrivateMessage);
        // Also when it answers something: a non-public Note is never community content.
        let reply = content(json!({
            "id": "https://m.example/s/3", "type": "Note", "content": "hi",
            "attributedTo": "https://m.example/users/a", "to": ["https://l.example/u/b"],
            "inReplyTo": "https://m.example/s/1",
        }));
        assert_eq!(reply.role(), Role::PrivateMessage);

        // Content without an author is refused; an unknown object type is `Other`.
        assert!(
            Object::parse(&json!({"id": "https://x.example/1", "type": "Note", "content": "x"}))
                .is_err()
        );
        assert!(matches!(
            Object::parse(&json!({"id": "https://x.example/1", "type": "Collection"})).unwrap(),
            Object::Other { .. }
        ));
    }

    #[test]
    fn activities_with_uris_and_odd_shapes() {
        let a = Activity::parse(&json!({
            "@context": ["https://www.w3.org/ns/activitystreams", {"toot": "http://joinmastodon.org/ns#"}],
            "id": "https://m.example/a/1", "type": "Create", "actor": {"id": "https://m.example/users/a", "type": "Person"},
            "object": "https://m.example/s/1", "to": "as:Public",
        }))
        .unwrap();
        assert_eq!(a.actor.as_str(), "https://m.example/users/a");
        assert!(matches!(a.verb, Verb::Create(ObjectRef::Id(_))));
        assert!(is_public(&a.to[0]));

        // Mastodon reports name the account and the statuses.
        let f = Activity::parse(&json!({
            "id": "https://m.example/f/1", "type": "Flag", "actor": "https://m.example/actor",
            "object": ["https://l.example/u/x", "https://l.example/post/1"], "content": "spam",
        }))
        .unwrap();
        assert!(matches!(&f.verb, Verb::Flag { objects } if objects.len() == 2));
        assert_eq!(f.reason().as_deref(), Some("spam"));
        let mut blank = f.clone();
        blank.summary = Some(" ".into());
        assert_eq!(blank.reason().as_deref(), Some("spam"));
        blank.content = Some("x".repeat(MAX_REASON_CHARS + 10));
        assert_eq!(
            blank.reason().map(|r| r.chars().count()),
            Some(MAX_REASON_CHARS)
        );
        blank.content = None;
        assert_eq!(blank.reason(), None);

        // Akkoma's emoji reaction is a verb of its own; every verb type reads back as itself.
        let r = Activity::parse(&json!({"id": "https://x.example/1", "type": "EmojiReact", "actor": "https://x.example/u", "object": "https://y.example/1", "content": "🔥"})).unwrap();
        assert_eq!(
            r.verb,
            Verb::EmojiReact(Url::parse("https://y.example/1").unwrap())
        );
        assert_eq!(r.verb.verb_type(), Some(VerbType::EmojiReact));
        for t in VerbType::ALL {
            assert_eq!(VerbType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(VerbType::parse("like"), None);

        // Unknown types parse (and are ignored later); missing actor does not.
        let e = Activity::parse(&json!({"id": "https://x.example/1", "type": "Move", "actor": "https://x.example/u", "object": "https://y.example/1"})).unwrap();
        assert_eq!(e.verb, Verb::Other);
        assert_eq!(
            Activity::parse(
                &json!({"id": "https://x.example/1", "type": "Like", "object": "https://y.example/1"})
            ),
            Err(ParseError::Missing("actor"))
        );
        assert_eq!(
            Activity::parse(
                &json!({"id": "https://x.example/1", "type": "Like", "actor": "https://x.example/u"})
            ),
            Err(ParseError::Missing("object"))
        );
    }

    #[test]
    fn innermost_object_of_nested_activities() {
        let announce = json!({"type": "Announce", "actor": "c", "object":
            {"type": "Create", "actor": "u", "object": {"type": "Note", "id": "https://x/n/1"}}});
        assert_eq!(
            innermost_object(&announce).as_deref(),
            Some("https://x/n/1")
        );
        let undo = json!({"type": "Undo", "actor": "u", "object":
            {"type": "Like", "actor": "u", "id": "https://l/like/1", "object": "https://x/p/1"}});
        assert_eq!(innermost_object(&undo).as_deref(), Some("https://x/p/1"));
        assert_eq!(innermost_object(&json!({"type": "Follow"})), None);
    }
}
