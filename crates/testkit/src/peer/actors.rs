//! The peer's own actors and the Lemmy-shaped JSON it serves for them.
//!
//! Shapes follow Lemmy 0.19 (see the repository's `fixtures/activitypub/lemmy/objects/`):
//! a `publicKey {id: <actor>#main-key, owner, publicKeyPem}`, a personal `inbox`,
//! `endpoints.sharedInbox` = `<base>/inbox`, and for groups `followers`, `attributedTo`
//! (moderators) and `featured`. The instance actor is an `Application` at `<base>/`.

use super::keys::ActorKey;
use activitypub_federation::protocol::public_key::PublicKey;
use serde_json::{Value, json};
use std::sync::Arc;
use url::Url;

/// What kind of actor a peer actor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    /// A user, served at `/u/NAME`.
    Person,
    /// A community, served at `/c/NAME`.
    Group,
    /// The instance actor (`Application`), served at `/`.
    Instance,
}

impl ActorKind {
    /// The path the actor is served at.
    pub(crate) fn path(self, name: &str) -> String {
        match self {
            ActorKind::Person => format!("/u/{name}"),
            ActorKind::Group => format!("/c/{name}"),
            ActorKind::Instance => "/".to_string(),
        }
    }
}

/// One actor of the peer.
pub(crate) struct LocalActor {
    pub(crate) kind: ActorKind,
    pub(crate) name: String,
    pub(crate) id: Url,
    pub(crate) key: Arc<ActorKey>,
    /// Answers 410 Gone from now on.
    pub(crate) gone: bool,
}

/// The `@context` Lemmy 0.19 puts on everything it serves and sends.
pub(crate) fn lemmy_context() -> Value {
    json!([
        "https://join-lemmy.org/context.json",
        "https://www.w3.org/ns/activitystreams"
    ])
}

impl LocalActor {
    /// The actor document (with `@context`).
    pub(crate) fn document(&self, base: &str) -> Value {
        let id = self.id.as_str().to_string();
        let public_key = PublicKey {
            id: format!("{id}#main-key"),
            owner: self.id.clone(),
            public_key_pem: self.key.public_pem.clone(),
        };
        let mut doc = json!({
            "@context": lemmy_context(),
            "id": id,
            "preferredUsername": self.name,
            "inbox": format!("{base}/inbox"),
            "outbox": format!("{base}/outbox"),
            "publicKey": public_key,
            "published": "2024-01-01T00:00:00Z",
        });
        let own = |suffix: &str| format!("{}/{suffix}", self.id.as_str().trim_end_matches('/'));
        match self.kind {
            ActorKind::Person => {
                doc["type"] = json!("Person");
                doc["inbox"] = json!(own("inbox"));
                doc["outbox"] = json!(own("outbox"));
                doc["endpoints"] = json!({ "sharedInbox": format!("{base}/inbox") });
            }
            ActorKind::Group => {
                doc["type"] = json!("Group");
                doc["name"] = json!(self.name);
                doc["inbox"] = json!(own("inbox"));
                doc["outbox"] = json!(own("outbox"));
                doc["followers"] = json!(own("followers"));
                doc["attributedTo"] = json!(own("moderators"));
                doc["featured"] = json!(own("featured"));
                doc["postingRestrictedToMods"] = json!(false);
                doc["sensitive"] = json!(false);
                doc["endpoints"] = json!({ "sharedInbox": format!("{base}/inbox") });
            }
            ActorKind::Instance => {
                doc["type"] = json!("Application");
                doc["name"] = json!(self.name);
            }
        }
        doc
    }

    /// What a deleted actor answers (with 410), as activitypub_federation serves it.
    pub(crate) fn tombstone(&self) -> Value {
        let mut doc = serde_json::to_value(
            activitypub_federation::protocol::tombstone::Tombstone::new(self.id.clone()),
        )
        .unwrap_or_else(|_| json!({ "id": self.id.as_str(), "type": "Tombstone" }));
        doc["@context"] = lemmy_context();
        doc
    }

    /// The actor's collections Lemmy serves, empty (`/c/NAME/followers` etc.).
    pub(crate) fn collection(&self, which: &str) -> Option<Value> {
        let allowed: &[&str] = match self.kind {
            ActorKind::Person => &["outbox"],
            ActorKind::Group => &["outbox", "followers", "moderators", "featured"],
            ActorKind::Instance => &[],
        };
        if !allowed.contains(&which) {
            return None;
        }
        let id = format!("{}/{which}", self.id.as_str().trim_end_matches('/'));
        Some(if which == "followers" {
            json!({ "@context": lemmy_context(), "id": id, "type": "Collection", "totalItems": 0, "items": [] })
        } else {
            json!({ "@context": lemmy_context(), "id": id, "type": "OrderedCollection", "totalItems": 0, "orderedItems": [] })
        })
    }

    /// The webfinger answer for `acct:NAME@DOMAIN`.
    pub(crate) fn webfinger(&self, domain: &str) -> Value {
        let kind = match self.kind {
            ActorKind::Person => "Person",
            ActorKind::Group => "Group",
            ActorKind::Instance => "Application",
        };
        json!({
            "subject": format!("acct:{}@{domain}", self.name),
            "links": [
                { "rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": self.id.as_str() },
                {
                    "rel": "self",
                    "type": "application/activity+json",
                    "href": self.id.as_str(),
                    "properties": { "https://www.w3.org/ns/activitystreams#type": kind }
                }
            ]
        })
    }
}
