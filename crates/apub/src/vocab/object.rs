//! Objects: content (posts, comments, private messages), actors, tombstones.

use super::{ParseError, de, is_public, text};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// Longest post title we store (Lemmy's limit).
pub const MAX_TITLE_CHARS: usize = 200;

/// An object as embedded in an activity or fetched by its id.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A post, comment or private message.
    Content(Box<Content>),
    /// A person, community or other actor.
    Actor(Box<ActorDoc>),
    /// A deleted object.
    Tombstone(Tombstone),
    /// Something else (an `Image`, a `Collection`, ...): its id and type.
    Other {
        /// `id`, absolute.
        id: Url,
        /// `type` as sent.
        kind: String,
    },
}

/// An object, or only its id.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectRef {
    /// Only the URI: look it up, or fetch it.
    Id(Url),
    /// The whole object, as sent (not yet checked against its origin).
    Embedded(Box<Object>),
}

impl ObjectRef {
    /// The object's id either way.
    pub fn id(&self) -> &Url {
        match self {
            ObjectRef::Id(u) => u,
            ObjectRef::Embedded(o) => o.id(),
        }
    }

    /// Reads a reference: a URI string, or an embedded object.
    pub fn parse(v: &Value) -> Result<ObjectRef, ParseError> {
        match v {
            Value::String(_) => de::url_of(v)
                .map(ObjectRef::Id)
                .ok_or(ParseError::Missing("object")),
            Value::Object(_) => Ok(ObjectRef::Embedded(Box::new(Object::parse(v)?))),
            // A one-element array is how some JSON-LD compactors render a single value.
            Value::Array(a) if a.len() == 1 => ObjectRef::parse(&a[0]),
            _ => Err(ParseError::Missing("object")),
        }
    }
}

/// The content types we store, by the role they play here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentKind {
    /// Lemmy's post.
    Page,
    /// Mbin threads, WordPress posts, ...
    Article,
    /// Comments, Mastodon statuses, Lemmy 1.0 private messages.
    Note,
    /// PeerTube.
    Video,
    /// Mobilizon, Friendica events.
    Event,
    /// Polls.
    Question,
    /// Lemmy 0.19 private messages.
    ChatMessage,
    /// Audio / Image posts (Funkwhale, Pixelfed).
    Media(String),
}

impl ContentKind {
    fn parse(kind: &str) -> Option<ContentKind> {
        Some(match kind {
            "Page" => ContentKind::Page,
            "Article" => ContentKind::Article,
            "Note" => ContentKind::Note,
            "Video" => ContentKind::Video,
            "Event" => ContentKind::Event,
            "Question" => ContentKind::Question,
            "ChatMessage" => ContentKind::ChatMessage,
            "Audio" | "Image" => ContentKind::Media(kind.to_string()),
            _ => return None,
        })
    }
}

/// What a piece of content is here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A post in a community.
    Post,
    /// A reply to a post or comment.
    Comment,
    /// A private message.
    PrivateMessage,
}

/// A post, comment or private message, with every field we store.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// `id`, absolute.
    pub id: Url,
    /// `type`, one of those read as content.
    pub kind: ContentKind,
    /// Authors: the entries of `attributedTo` not typed `Group`, else its first entry (the
    /// first one counts).
    pub attributed_to: Vec<Url>,
    /// The other entries of `attributedTo`, `Group`s first: where PeerTube names the channel
    /// a video is posted to (a community candidate, like `audience`).
    pub attributed_groups: Vec<Url>,
    /// `to`: a string or an array.
    pub to: Vec<Url>,
    /// `cc`: a string or an array.
    pub cc: Vec<Url>,
    /// The community, as Lemmy and Mbin name it.
    pub audience: Option<Url>,
    /// `name`: a post's title; comments and messages have none.
    pub name: Option<String>,
    /// `content` (or the `contentMap` entry), HTML as sent.
    pub content: Option<String>,
    /// Markdown source, when sent.
    pub source: Option<String>,
    /// Summary / content warning.
    pub summary: Option<String>,
    /// The link a post points to.
    pub url: Option<Url>,
    /// The post or comment answered.
    pub in_reply_to: Option<Url>,
    /// `sensitive` (NSFW).
    pub sensitive: bool,
    /// From Lemmy's `language` or the `contentMap` key.
    pub language: Option<String>,
    /// `published`.
    pub published: Option<DateTime<Utc>>,
    /// `updated`: newer versions win, equal ones are re-deliveries.
    pub updated: Option<DateTime<Utc>>,
    /// Lemmy: `false` when the post is locked.
    pub comments_enabled: Option<bool>,
    /// Lemmy: featured in its community.
    pub stickied: Option<bool>,
    /// Lemmy: a moderator's distinguished comment.
    pub distinguished: bool,
}

impl Content {
    /// The role by shape alone: a `ChatMessage` is a private message; so is a `Note` not
    /// addressed to the public, whether or not it answers something (Lemmy stores a Note as
    /// a comment only when it finds a community for it, and community content is public:
    /// Mastodon DMs and mentions-only replies, Lemmy 1.0's messages); a public `Note`
    /// answering something is a comment, one answering nothing a post (Mastodon posting to a
    /// group); every other type is a post, or a comment when it answers something.
    pub fn role(&self) -> Role {
        match self.kind {
            ContentKind::ChatMessage => Role::PrivateMessage,
            ContentKind::Note if !self.is_public() => Role::PrivateMessage,
            _ if self.in_reply_to.is_some() => Role::Comment,
            _ => Role::Post,
        }
    }

    /// Addressed to the public.
    pub fn is_public(&self) -> bool {
        self.to.iter().chain(&self.cc).any(is_public)
    }

    /// The author.
    pub fn author(&self) -> Option<&Url> {
        self.attributed_to.first()
    }

    /// The version of this object: `updated`, else `published`.
    pub fn version(&self) -> Option<DateTime<Utc>> {
        self.updated.or(self.published)
    }

    /// A title for a post: `name`, else the summary, else the start of the text.
    pub fn title(&self) -> String {
        let pick =
            |s: &Option<String>| s.as_deref().map(text::strip_html).filter(|t| !t.is_empty());
        let t = pick(&self.name)
            .or_else(|| pick(&self.summary))
            .or_else(|| pick(&self.content))
            .unwrap_or_else(|| "untitled".to_string());
        text::truncate_chars(&t, MAX_TITLE_CHARS)
    }

    /// Where the community of this content may be named, most specific first: `audience`,
    /// then the `Group`s of `attributedTo` (PeerTube's channel), then `to`, then `cc`;
    /// without the public collection, follower collections and the authors.
    pub fn community_candidates(&self) -> Vec<Url> {
        let mut out: Vec<Url> = Vec::new();
        let all = self
            .audience
            .iter()
            .chain(&self.attributed_groups)
            .chain(&self.to)
            .chain(&self.cc);
        for u in all {
            if is_public(u)
                || u.path().ends_with("/followers")
                || self.attributed_to.contains(u)
                || out.contains(u)
            {
                continue;
            }
            out.push(u.clone());
        }
        out
    }
}

/// Kinds of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A user.
    Person,
    /// A community.
    Group,
    /// An automated account (stored as a person with `bot`).
    Service,
    /// An instance actor.
    Application,
    /// An organisation (stored as a person).
    Organization,
}

impl ActorKind {
    fn parse(kind: &str) -> Option<ActorKind> {
        Some(match kind {
            "Person" => ActorKind::Person,
            "Group" => ActorKind::Group,
            "Service" => ActorKind::Service,
            "Application" => ActorKind::Application,
            "Organization" => ActorKind::Organization,
            _ => return None,
        })
    }

    /// Stored in `person` (users and bots) rather than `community`.
    pub fn is_person_like(self) -> bool {
        matches!(
            self,
            ActorKind::Person | ActorKind::Service | ActorKind::Organization
        )
    }
}

/// An actor's public key as published.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKeyDoc {
    /// `id`: the keyId signatures name.
    pub id: String,
    /// `owner`: must be the document it is published in.
    pub owner: Url,
    /// `publicKeyPem`.
    pub pem: String,
}

/// An actor document (Person, Group, Service, Application, Organization).
#[derive(Debug, Clone, PartialEq)]
pub struct ActorDoc {
    /// `id`, absolute.
    pub id: Url,
    /// From `type`.
    pub kind: ActorKind,
    /// preferredUsername (or the last path segment of the id when missing).
    pub username: String,
    /// Display name / title.
    pub display_name: Option<String>,
    /// `summary`, HTML.
    pub summary: Option<String>,
    /// Avatar / community icon.
    pub icon: Option<Url>,
    /// `image`.
    pub banner: Option<Url>,
    /// `inbox` as sent (stored only when on the actor's host).
    pub inbox: Option<Url>,
    /// `endpoints.sharedInbox` as sent (stored only when on the actor's host).
    pub shared_inbox: Option<Url>,
    /// `followers`.
    pub followers: Option<Url>,
    /// Moderators collection (Lemmy names it in a Group's `attributedTo`).
    pub moderators: Option<Url>,
    /// `featured`: a community's pinned posts.
    pub featured: Option<Url>,
    /// `publicKey`: stored only from the owner's own fetched document.
    pub public_key: Option<PublicKeyDoc>,
    /// Adult content (communities).
    pub sensitive: bool,
    /// Only moderators may post (communities).
    pub posting_restricted_to_mods: bool,
    /// `published`.
    pub published: Option<DateTime<Utc>>,
    /// `updated`: newer profiles win.
    pub updated: Option<DateTime<Utc>>,
}

/// A deleted object.
#[derive(Debug, Clone, PartialEq)]
pub struct Tombstone {
    /// Id of the deleted object.
    pub id: Url,
    /// What it was, when said.
    pub former_type: Option<String>,
}

/// Every field we read from any object, each read leniently (see `de`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawObject {
    #[serde(deserialize_with = "de::url")]
    id: Option<Url>,
    #[serde(rename = "type", deserialize_with = "de::kind")]
    kind: Option<String>,
    attributed_to: Value,
    #[serde(deserialize_with = "de::urls")]
    to: Vec<Url>,
    #[serde(deserialize_with = "de::urls")]
    cc: Vec<Url>,
    #[serde(deserialize_with = "de::url")]
    audience: Option<Url>,
    #[serde(deserialize_with = "de::text")]
    name: Option<String>,
    #[serde(deserialize_with = "de::text")]
    content: Option<String>,
    content_map: Option<Value>,
    #[serde(deserialize_with = "de::text")]
    summary: Option<String>,
    #[serde(deserialize_with = "de::source")]
    source: Option<String>,
    #[serde(deserialize_with = "de::url")]
    in_reply_to: Option<Url>,
    url: Value,
    attachment: Value,
    image: Value,
    icon: Value,
    #[serde(deserialize_with = "de::flag")]
    sensitive: Option<bool>,
    #[serde(deserialize_with = "de::language")]
    language: Option<String>,
    #[serde(deserialize_with = "de::time")]
    published: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::time")]
    updated: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::flag")]
    comments_enabled: Option<bool>,
    #[serde(deserialize_with = "de::flag")]
    stickied: Option<bool>,
    #[serde(deserialize_with = "de::flag")]
    distinguished: Option<bool>,
    #[serde(deserialize_with = "de::text")]
    preferred_username: Option<String>,
    #[serde(deserialize_with = "de::url")]
    inbox: Option<Url>,
    #[serde(deserialize_with = "de::url")]
    followers: Option<Url>,
    #[serde(deserialize_with = "de::url")]
    featured: Option<Url>,
    #[serde(deserialize_with = "de::url")]
    moderators: Option<Url>,
    endpoints: Value,
    public_key: Value,
    #[serde(deserialize_with = "de::flag")]
    posting_restricted_to_mods: Option<bool>,
    #[serde(deserialize_with = "de::kind")]
    former_type: Option<String>,
}

impl Object {
    /// Reads an object. Fails only without a usable `id` or `type`, or for a content object
    /// without an author.
    pub fn parse(v: &Value) -> Result<Object, ParseError> {
        if !v.is_object() {
            return Err(ParseError::NotAnObject);
        }
        let raw = RawObject::deserialize(v).map_err(|e| ParseError::Invalid(e.to_string()))?;
        let id = raw.id.clone().ok_or(ParseError::Missing("id"))?;
        let kind = raw.kind.clone().ok_or(ParseError::Missing("type"))?;
        if kind == "Tombstone" {
            return Ok(Object::Tombstone(Tombstone {
                id,
                former_type: raw.former_type,
            }));
        }
        if let Some(k) = ActorKind::parse(&kind) {
            return Ok(Object::Actor(Box::new(actor(id, k, raw))));
        }
        if let Some(k) = ContentKind::parse(&kind) {
            return content(id, k, raw).map(|c| Object::Content(Box::new(c)));
        }
        Ok(Object::Other { id, kind })
    }

    /// The `id` of whichever kind it is.
    pub fn id(&self) -> &Url {
        match self {
            Object::Content(c) => &c.id,
            Object::Actor(a) => &a.id,
            Object::Tombstone(t) => &t.id,
            Object::Other { id, .. } => id,
        }
    }

    /// Its type name, for logs and metrics.
    pub fn kind_name(&self) -> &str {
        match self {
            Object::Content(c) => match &c.kind {
                ContentKind::Page => "Page",
                ContentKind::Article => "Article",
                ContentKind::Note => "Note",
                ContentKind::Video => "Video",
                ContentKind::Event => "Event",
                ContentKind::Question => "Question",
                ContentKind::ChatMessage => "ChatMessage",
                ContentKind::Media(k) => k,
            },
            Object::Actor(_) => "Actor",
            Object::Tombstone(_) => "Tombstone",
            Object::Other { kind, .. } => kind,
        }
    }
}

/// The link a post points to: Lemmy's first attachment (a `Link`'s `href`, an image's
/// `url`); for types whose `url` is the link itself (PeerTube videos, WordPress articles,
/// events), the `url` field.
fn post_link(kind: &ContentKind, raw: &RawObject) -> Option<Url> {
    if let Some(first) = raw.attachment.as_array().and_then(|a| a.first()) {
        let link = first
            .get("href")
            .or_else(|| first.get("url"))
            .and_then(de::url_of);
        if link.is_some() {
            return link;
        }
    }
    match kind {
        ContentKind::Video | ContentKind::Article | ContentKind::Event => {
            // PeerTube lists several Links; the HTML page is the one to show.
            if let Some(list) = raw.url.as_array() {
                let html = list
                    .iter()
                    .find(|l| l.get("mediaType").and_then(Value::as_str) == Some("text/html"));
                if let Some(u) = html.and_then(de::url_of) {
                    return Some(u);
                }
            }
            de::url_of(&raw.url)
        }
        _ => None,
    }
}

fn content(id: Url, kind: ContentKind, raw: RawObject) -> Result<Content, ParseError> {
    let (attributed_to, attributed_groups) = de::attribution_of(&raw.attributed_to);
    if attributed_to.is_empty() {
        return Err(ParseError::Missing("attributedTo"));
    }
    // Mastodon sends the language only as the key of `contentMap`.
    let language = raw.language.clone().or_else(|| {
        raw.content_map
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|m| m.keys().next().cloned())
    });
    let body = raw.content.clone().or_else(|| {
        raw.content_map
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|m| m.values().find_map(de::text_of))
    });
    Ok(Content {
        url: post_link(&kind, &raw),
        id,
        kind,
        attributed_to,
        attributed_groups,
        to: raw.to,
        cc: raw.cc,
        audience: raw.audience,
        name: raw.name,
        content: body,
        source: raw.source,
        summary: raw.summary,
        in_reply_to: raw.in_reply_to,
        sensitive: raw.sensitive.unwrap_or(false),
        language,
        published: raw.published,
        updated: raw.updated,
        comments_enabled: raw.comments_enabled,
        stickied: raw.stickied,
        distinguished: raw.distinguished.unwrap_or(false),
    })
}

fn actor(id: Url, kind: ActorKind, raw: RawObject) -> ActorDoc {
    let username = raw
        .preferred_username
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            id.path_segments()
                .and_then(|mut s| s.rfind(|p| !p.is_empty()).map(str::to_string))
        })
        .unwrap_or_else(|| id.host_str().unwrap_or("unknown").to_string());
    let public_key = raw.public_key.as_object().and_then(|k| {
        Some(PublicKeyDoc {
            id: k.get("id")?.as_str()?.to_string(),
            owner: k.get("owner").and_then(de::url_of)?,
            pem: k.get("publicKeyPem")?.as_str()?.to_string(),
        })
    });
    let moderators = raw.moderators.clone().or_else(|| {
        // Lemmy puts the moderators collection in a Group's attributedTo.
        (kind == ActorKind::Group)
            .then(|| de::url_of(&raw.attributed_to))
            .flatten()
    });
    ActorDoc {
        icon: de::url_of(raw.icon.get("url").unwrap_or(&raw.icon)),
        banner: de::url_of(raw.image.get("url").unwrap_or(&raw.image)),
        shared_inbox: raw.endpoints.get("sharedInbox").and_then(de::url_of),
        id,
        kind,
        username,
        display_name: raw.name,
        summary: raw.summary,
        inbox: raw.inbox,
        followers: raw.followers,
        moderators,
        featured: raw.featured,
        public_key,
        sensitive: raw.sensitive.unwrap_or(false),
        posting_restricted_to_mods: raw.posting_restricted_to_mods.unwrap_or(false),
        published: raw.published,
        updated: raw.updated,
    }
}

/// The items of a collection document (`orderedItems` or `items`, ids or embedded objects).
pub fn collection_items(v: &Value) -> Vec<Url> {
    v.get("orderedItems")
        .or_else(|| v.get("items"))
        .map(de::urls_of)
        .unwrap_or_default()
}
