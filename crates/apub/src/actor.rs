//! ActivityPub documents of our local actors.
//!
//! Shaped like Lemmy's own (see the fixtures' `objects/group.json` and `instance.json`), so
//! Lemmy and the other threadiverse servers read them without surprises.

use crate::LocalUrls;
use crate::context::default_context;
use activitypub_federation::protocol::public_key::PublicKey;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What kind of local actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A community (`Group`).
    Group,
    /// A user (`Person`).
    Person,
    /// The instance actor (`Application`), which signs our fetches.
    Application,
}

/// The facts a local actor document is made of.
#[derive(Debug, Clone)]
pub struct LocalActor<'a> {
    /// Kind.
    pub kind: ActorKind,
    /// Its id.
    pub id: &'a str,
    /// preferredUsername.
    pub name: &'a str,
    /// Display name / title.
    pub title: Option<&'a str>,
    /// HTML summary.
    pub summary: Option<&'a str>,
    /// Public key PEM.
    pub public_key_pem: &'a str,
    /// Creation time.
    pub published: Option<DateTime<Utc>>,
}

/// Longest local actor name. Lemmy allows 20 characters; more room costs nothing.
pub const MAX_NAME_LEN: usize = 64;

/// A name a local community or user may have: what Lemmy accepts (ASCII letters, digits,
/// underscore), 1 to [`MAX_NAME_LEN`] characters. Anything else names no local actor, so
/// requests for it are answered without a database lookup.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Renders the actor document, `@context` included.
pub fn render(a: &LocalActor<'_>, urls: &LocalUrls) -> Value {
    let kind = match a.kind {
        ActorKind::Group => "Group",
        ActorKind::Person => "Person",
        ActorKind::Application => "Application",
    };
    let key = PublicKey {
        id: LocalUrls::key_id(a.id),
        owner: a
            .id
            .parse()
            .unwrap_or_else(|_| urls.instance_actor().parse().expect("our base URL parses")),
        public_key_pem: a.public_key_pem.to_string(),
    };
    let inbox = match a.kind {
        ActorKind::Application => urls.shared_inbox(),
        _ => LocalUrls::sub(a.id, "inbox"),
    };
    let mut doc = json!({
        "@context": default_context(),
        "id": a.id,
        "type": kind,
        "preferredUsername": a.name,
        "inbox": inbox,
        "outbox": LocalUrls::sub(a.id, "outbox"),
        "endpoints": { "sharedInbox": urls.shared_inbox() },
        "publicKey": key,
    });
    let obj = doc.as_object_mut().expect("a JSON object");
    if let Some(t) = a.title {
        obj.insert("name".into(), t.into());
    }
    if let Some(s) = a.summary {
        obj.insert("summary".into(), s.into());
    }
    if let Some(p) = a.published {
        obj.insert(
            "published".into(),
            p.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
        );
    }
    if a.kind == ActorKind::Group {
        obj.insert("followers".into(), LocalUrls::sub(a.id, "followers").into());
        obj.insert(
            "attributedTo".into(),
            LocalUrls::sub(a.id, "moderators").into(),
        );
        obj.insert("featured".into(), LocalUrls::sub(a.id, "featured").into());
        obj.insert("postingRestrictedToMods".into(), false.into());
        obj.insert("sensitive".into(), false.into());
    }
    if a.kind != ActorKind::Application {
        obj.insert("url".into(), a.id.into());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_document_has_key_and_collections() {
        let urls = LocalUrls::new("example.org", false).unwrap();
        let id = urls.community("rust");
        let doc = render(
            &LocalActor {
                kind: ActorKind::Group,
                id: &id,
                name: "rust",
                title: Some("Rust"),
                summary: None,
                public_key_pem: "PEM",
                published: None,
            },
            &urls,
        );
        assert_eq!(doc["type"], "Group");
        assert_eq!(
            doc["publicKey"]["id"],
            "https://example.org/c/rust#main-key"
        );
        assert_eq!(doc["publicKey"]["owner"], "https://example.org/c/rust");
        assert_eq!(doc["publicKey"]["publicKeyPem"], "PEM");
        assert_eq!(doc["inbox"], "https://example.org/c/rust/inbox");
        assert_eq!(doc["followers"], "https://example.org/c/rust/followers");
        assert_eq!(doc["endpoints"]["sharedInbox"], "https://example.org/inbox");
    }
}
