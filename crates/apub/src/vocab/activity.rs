//! Activities: the verbs we act on, with their objects read into typed references.

use super::object::{Object, ObjectRef};
use super::{ParseError, de};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// Longest report reason we store, in characters (Lemmy's limit for its own reports).
pub const MAX_REASON_CHARS: usize = 1000;

/// How deep activities may nest (Announce(Undo(Like)) is 3); deeper is refused.
const MAX_DEPTH: usize = 4;

/// The ActivityStreams activity types: an embedded value with one of these types is read as
/// an activity, anything else as an object.
const ACTIVITY_TYPES: &[&str] = &[
    "Accept",
    "Add",
    "Announce",
    "Arrive",
    "Block",
    "Create",
    "Delete",
    "Dislike",
    "EmojiReact",
    "Flag",
    "Follow",
    "Ignore",
    "Invite",
    "Join",
    "Leave",
    "Like",
    "Listen",
    "Lock",
    "Move",
    "Offer",
    "Read",
    "Reject",
    "Remove",
    "Resolve",
    "TentativeAccept",
    "TentativeReject",
    "Travel",
    "Undo",
    "Update",
    "View",
    "Warn",
];

/// True when `kind` names an activity rather than an object.
pub fn is_activity_type(kind: &str) -> bool {
    ACTIVITY_TYPES.contains(&kind)
}

/// A parsed activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// `id`, absolute.
    pub id: Url,
    /// `type` as sent (a verb sluice does not act on keeps its name here).
    pub kind: String,
    /// `actor`: the receiver checked the signature is its, or its origin served it.
    pub actor: Url,
    /// `to`: a string or an array.
    pub to: Vec<Url>,
    /// `cc`: a string or an array.
    pub cc: Vec<Url>,
    /// The community it concerns, when said (Lemmy, Mbin).
    pub audience: Option<Url>,
    /// Reason (removals, bans, reports); `Some("")` is present-but-empty.
    pub summary: Option<String>,
    /// Text of the activity itself: where Mastodon, Misskey and others put a report's reason.
    pub content: Option<String>,
    /// `published`, when sent.
    pub published: Option<DateTime<Utc>>,
    /// What it does.
    pub verb: Verb,
}

/// An activity, or only its id.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityRef {
    /// Only the URI: look it up, or fetch it.
    Id(Url),
    /// The whole activity, as sent.
    Embedded(Box<Activity>),
}

impl ActivityRef {
    /// The activity's id either way.
    pub fn id(&self) -> &Url {
        match self {
            ActivityRef::Id(u) => u,
            ActivityRef::Embedded(a) => &a.id,
        }
    }
}

/// What an `Announce` carries.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnounceObject {
    /// An embedded activity (Lemmy communities relay this way).
    Activity(Box<Activity>),
    /// An embedded object (a boost of a post).
    Object(Box<Object>),
    /// Only a URI: fetch it to know.
    Id(Url),
}

/// Declares [`VerbType`] from one list of names, each the `type` string it is read from, so
/// the enum, its strings and its parsing cannot disagree.
macro_rules! verb_types {
    ($($name:ident),* $(,)?) => {
        /// The activity types sluice acts on, one per [`Verb`] but `Other`: parsing dispatches
        /// on it and metrics label by it, so a verb added to [`Verb`] and not here (or here
        /// and not parsed) does not compile.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum VerbType {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $name,
            )*
        }

        impl VerbType {
            /// Every type, in declaration order.
            pub const ALL: &'static [VerbType] = &[$(VerbType::$name),*];

            /// The `type` string, as sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(VerbType::$name => stringify!($name),)*
                }
            }

            /// The type named exactly `kind`; `None` for every type sluice does not act on.
            pub fn parse(kind: &str) -> Option<VerbType> {
                match kind {
                    $(stringify!($name) => Some(VerbType::$name),)*
                    _ => None,
                }
            }
        }
    };
}

verb_types!(
    Create, Update, Delete, Undo, Like, Dislike, Follow, Accept, Reject, Announce, Block, Lock,
    Flag, Add, Remove, Resolve, EmojiReact,
);

/// The verbs sluice acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// Create a post, comment or private message.
    Create(ObjectRef),
    /// Update content or an actor's profile.
    Update(ObjectRef),
    /// Delete content or an account; with a `summary`, Lemmy's moderator removal.
    Delete {
        /// The object deleted: the person itself for an account.
        object: ObjectRef,
        /// Lemmy: delete the account's content too.
        remove_data: bool,
    },
    /// Undo an earlier activity.
    Undo(ActivityRef),
    /// Upvote (or a favourite).
    Like(Url),
    /// Downvote.
    Dislike(Url),
    /// Follow an actor.
    Follow(Url),
    /// Accept a follow.
    Accept(ActivityRef),
    /// Reject a follow.
    Reject(ActivityRef),
    /// Relay by a community.
    Announce(AnnounceObject),
    /// Ban a person (from the `target` community, or from its instance).
    Block {
        /// The banned person.
        object: Url,
        /// The community, or the instance actor for a site ban; a Block without one is a user's own block.
        target: Option<Url>,
        /// `endTime` (Lemmy) or `expires`; none: permanent.
        expires: Option<DateTime<Utc>>,
        /// Remove the person's content too.
        remove_data: bool,
    },
    /// Lock a post (or comment).
    Lock(Url),
    /// Report content.
    Flag {
        /// What is reported (Mastodon adds the account).
        objects: Vec<Url>,
    },
    /// Add to a collection (moderators, featured posts).
    Add {
        /// The moderator or post added.
        object: Url,
        /// The community's moderators or featured collection.
        target: Option<Url>,
    },
    /// Remove from a collection.
    Remove {
        /// The moderator or post removed.
        object: Url,
        /// The community's moderators or featured collection.
        target: Option<Url>,
    },
    /// Resolve a report.
    Resolve(ActivityRef),
    /// An emoji reaction (Pleroma, Akkoma; FEP-c0e0), read as an upvote as PieFed reads
    /// it: Misskey sends the same gesture as a `Like` with the emoji in `content`.
    EmojiReact(Url),
    /// A type sluice does not act on (`VerbType::parse` knows none); ignored with `UnsupportedActivity`.
    Other,
}

impl Verb {
    /// The type this verb is read from; `None` for [`Verb::Other`].
    pub fn verb_type(&self) -> Option<VerbType> {
        Some(match self {
            Verb::Create(_) => VerbType::Create,
            Verb::Update(_) => VerbType::Update,
            Verb::Delete { .. } => VerbType::Delete,
            Verb::Undo(_) => VerbType::Undo,
            Verb::Like(_) => VerbType::Like,
            Verb::Dislike(_) => VerbType::Dislike,
            Verb::Follow(_) => VerbType::Follow,
            Verb::Accept(_) => VerbType::Accept,
            Verb::Reject(_) => VerbType::Reject,
            Verb::Announce(_) => VerbType::Announce,
            Verb::Block { .. } => VerbType::Block,
            Verb::Lock(_) => VerbType::Lock,
            Verb::Flag { .. } => VerbType::Flag,
            Verb::Add { .. } => VerbType::Add,
            Verb::Remove { .. } => VerbType::Remove,
            Verb::Resolve(_) => VerbType::Resolve,
            Verb::EmojiReact(_) => VerbType::EmojiReact,
            Verb::Other => return None,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawActivity {
    #[serde(deserialize_with = "de::url")]
    id: Option<Url>,
    #[serde(rename = "type", deserialize_with = "de::kind")]
    kind: Option<String>,
    #[serde(deserialize_with = "de::url")]
    actor: Option<Url>,
    object: Value,
    target: Value,
    #[serde(deserialize_with = "de::urls")]
    to: Vec<Url>,
    #[serde(deserialize_with = "de::urls")]
    cc: Vec<Url>,
    #[serde(deserialize_with = "de::url")]
    audience: Option<Url>,
    #[serde(deserialize_with = "de::text")]
    summary: Option<String>,
    #[serde(deserialize_with = "de::text")]
    content: Option<String>,
    #[serde(deserialize_with = "de::time")]
    published: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::time")]
    end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::time")]
    expires: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::flag")]
    remove_data: Option<bool>,
}

impl Activity {
    /// Reads an activity (and the activities it embeds).
    pub fn parse(v: &Value) -> Result<Activity, ParseError> {
        parse_at(v, 0)
    }

    /// A report's reason, as Lemmy reads it: `summary` (Lemmy), else `content` (Mastodon),
    /// whichever is not blank; at most [`MAX_REASON_CHARS`] characters.
    pub fn reason(&self) -> Option<String> {
        [&self.summary, &self.content]
            .into_iter()
            .flatten()
            .find(|s| !s.trim().is_empty())
            .map(|s| super::text::truncate_chars(s, MAX_REASON_CHARS))
    }

    /// The object's id, for verbs that have one.
    pub fn object_id(&self) -> Option<&Url> {
        Some(match &self.verb {
            Verb::Create(o) | Verb::Update(o) | Verb::Delete { object: o, .. } => o.id(),
            Verb::Undo(a) | Verb::Accept(a) | Verb::Reject(a) | Verb::Resolve(a) => a.id(),
            Verb::Like(u)
            | Verb::Dislike(u)
            | Verb::EmojiReact(u)
            | Verb::Follow(u)
            | Verb::Lock(u) => u,
            Verb::Block { object, .. } | Verb::Add { object, .. } | Verb::Remove { object, .. } => {
                object
            }
            Verb::Announce(AnnounceObject::Activity(a)) => &a.id,
            Verb::Announce(AnnounceObject::Object(o)) => o.id(),
            Verb::Announce(AnnounceObject::Id(u)) => u,
            Verb::Flag { objects } => objects.first()?,
            Verb::Other => return None,
        })
    }
}

fn parse_at(v: &Value, depth: usize) -> Result<Activity, ParseError> {
    if depth >= MAX_DEPTH {
        return Err(ParseError::TooDeep);
    }
    if !v.is_object() {
        return Err(ParseError::NotAnObject);
    }
    let raw = RawActivity::deserialize(v).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let id = raw.id.clone().ok_or(ParseError::Missing("id"))?;
    let kind = raw.kind.clone().ok_or(ParseError::Missing("type"))?;
    let actor = raw.actor.clone().ok_or(ParseError::Missing("actor"))?;
    let object_url = || de::url_of(&raw.object).ok_or(ParseError::Missing("object"));
    let activity_ref = || -> Result<ActivityRef, ParseError> {
        match &raw.object {
            Value::Object(_) => Ok(ActivityRef::Embedded(Box::new(parse_at(
                &raw.object,
                depth + 1,
            )?))),
            other => de::url_of(other)
                .map(ActivityRef::Id)
                .ok_or(ParseError::Missing("object")),
        }
    };
    let target = de::url_of(&raw.target);
    let Some(verb_type) = VerbType::parse(&kind) else {
        return Ok(activity(raw, id, kind, actor, Verb::Other));
    };
    let verb = match verb_type {
        VerbType::Create => Verb::Create(ObjectRef::parse(&raw.object)?),
        VerbType::Update => Verb::Update(ObjectRef::parse(&raw.object)?),
        VerbType::Delete => Verb::Delete {
            object: match ObjectRef::parse(&raw.object) {
                Ok(o) => o,
                // An embedded object we cannot read still names what is deleted.
                Err(_) => ObjectRef::Id(object_url()?),
            },
            remove_data: raw.remove_data.unwrap_or(false),
        },
        VerbType::Undo => Verb::Undo(activity_ref()?),
        VerbType::Accept => Verb::Accept(activity_ref()?),
        VerbType::Reject => Verb::Reject(activity_ref()?),
        VerbType::Resolve => Verb::Resolve(activity_ref()?),
        VerbType::Like => Verb::Like(object_url()?),
        VerbType::Dislike => Verb::Dislike(object_url()?),
        VerbType::EmojiReact => Verb::EmojiReact(object_url()?),
        VerbType::Follow => Verb::Follow(object_url()?),
        VerbType::Lock => Verb::Lock(object_url()?),
        VerbType::Announce => Verb::Announce(announce_object(&raw.object, depth)?),
        VerbType::Block => Verb::Block {
            object: object_url()?,
            target,
            expires: raw.end_time.or(raw.expires),
            remove_data: raw.remove_data.unwrap_or(false),
        },
        VerbType::Flag => {
            let objects = de::urls_of(&raw.object);
            if objects.is_empty() {
                return Err(ParseError::Missing("object"));
            }
            Verb::Flag { objects }
        }
        VerbType::Add => Verb::Add {
            object: object_url()?,
            target,
        },
        VerbType::Remove => Verb::Remove {
            object: object_url()?,
            target,
        },
    };
    Ok(activity(raw, id, kind, actor, verb))
}

fn activity(raw: RawActivity, id: Url, kind: String, actor: Url, verb: Verb) -> Activity {
    Activity {
        id,
        kind,
        actor,
        to: raw.to,
        cc: raw.cc,
        audience: raw.audience,
        summary: raw.summary,
        content: raw.content,
        published: raw.published,
        verb,
    }
}

fn announce_object(v: &Value, depth: usize) -> Result<AnnounceObject, ParseError> {
    match v {
        Value::Object(m) => {
            let kind = m.get("type").and_then(de::kind_of).unwrap_or_default();
            if is_activity_type(&kind) {
                Ok(AnnounceObject::Activity(Box::new(parse_at(v, depth + 1)?)))
            } else {
                Ok(AnnounceObject::Object(Box::new(Object::parse(v)?)))
            }
        }
        other => de::url_of(other)
            .map(AnnounceObject::Id)
            .ok_or(ParseError::Missing("object")),
    }
}
