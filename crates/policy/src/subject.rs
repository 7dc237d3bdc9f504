//! The activity as policies see it: the JSON as received (or as rewritten so far), read
//! once into the parts rules look at. Policies read JSON rather than the pipeline's typed
//! activity because the rules concern fields the pipeline does not keep (tags, mentions,
//! attachments), and a rewrite must produce what is relayed.
//!
//! Everything here is bounded: nesting is followed at most [`MAX_DEPTH`] activities deep,
//! and lists are read up to [`MAX_ITEMS`] entries, whatever the sender put in them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sluice_trust::host::InstanceHost;
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use url::Url;

/// Activities nested in one another that are followed (Announce(Create(Page)) is 2).
pub const MAX_DEPTH: usize = 4;
/// Entries of one list (`tag`, `to`, `cc`, `attachment`) that are read.
pub const MAX_ITEMS: usize = 1000;

/// The parts of one activity the built-in policies look at.
#[derive(Debug)]
pub struct Subject<'a> {
    raw: &'a Value,
    /// The activities from the outermost inwards (an Announce, then what it carries).
    chain: Vec<&'a Map<String, Value>>,
    /// The innermost embedded object that is not an activity (a post, a comment).
    object: Option<&'a Map<String, Value>>,
    memo: Memo,
}

/// Values several policies derive from one subject (the plugins' view of the activity),
/// made by the first policy that asks and shared by the next ones. A rewrite makes a new
/// subject: nothing derived from the activity before it is seen after it.
#[derive(Default)]
pub struct Memo {
    made: RefCell<Vec<Rc<dyn Any>>>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("values", &self.made.borrow().len())
            .finish()
    }
}

fn is_activity(m: &Map<String, Value>) -> bool {
    m.get("type")
        .and_then(Value::as_str)
        .is_some_and(sluice_apub::vocab::is_activity_type)
}

impl<'a> Subject<'a> {
    /// Reads `raw` (anything: a value that is not an activity has no parts).
    pub fn new(raw: &'a Value) -> Subject<'a> {
        let mut chain = Vec::new();
        let mut object = None;
        let mut cur = raw.as_object();
        while let Some(m) = cur {
            if !is_activity(m) || chain.len() >= MAX_DEPTH {
                object = Some(m).filter(|m| !is_activity(m));
                break;
            }
            chain.push(m);
            cur = m.get("object").and_then(Value::as_object);
        }
        Subject {
            raw,
            chain,
            object,
            memo: Memo::default(),
        }
    }

    /// The value of type `T` derived from this subject: `make`'s, made once (by the first
    /// policy that asks) and shared by every policy asking after it.
    pub fn memo<T: Any>(&self, make: impl FnOnce(&Subject<'a>) -> T) -> Rc<T> {
        let made = self
            .memo
            .made
            .borrow()
            .iter()
            .find(|v| v.is::<T>())
            .and_then(|v| v.clone().downcast::<T>().ok());
        if let Some(v) = made {
            return v;
        }
        let v = Rc::new(make(self));
        self.memo.made.borrow_mut().push(v.clone());
        v
    }

    /// The activity as given.
    pub fn raw(&self) -> &'a Value {
        self.raw
    }

    /// The type of the innermost activity (`Create` inside an Announce), or "".
    pub fn kind(&self) -> &'a str {
        self.chain
            .last()
            .and_then(|m| m.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The type of the embedded object (`Page`, `Note`), when there is one.
    pub fn object_kind(&self) -> Option<&'a str> {
        self.object?.get("type").and_then(Value::as_str)
    }

    /// The embedded object (a post, a comment, a message), when there is one.
    pub fn object(&self) -> Option<&'a Map<String, Value>> {
        self.object
    }

    /// The actor of the innermost activity (the author, inside a community's Announce).
    pub fn author(&self) -> Option<&'a str> {
        self.chain
            .last()
            .and_then(|m| m.get("actor"))
            .and_then(id_of)
    }

    /// Every actor id on the way in, outermost first, with the object's `attributedTo`.
    pub fn actors(&self) -> impl Iterator<Item = &'a str> + '_ {
        let attributed = self
            .object
            .and_then(|o| o.get("attributedTo"))
            .into_iter()
            .flat_map(ids)
            .take(MAX_ITEMS);
        self.chain
            .iter()
            .filter_map(|m| m.get("actor").and_then(id_of))
            .chain(attributed)
    }

    /// The instance hosts of [`Subject::actors`] (a rule on an instance applies to what
    /// its users write, wherever it was relayed from).
    pub fn hosts(&self) -> impl Iterator<Item = InstanceHost> + '_ {
        self.actors().filter_map(host_of)
    }

    /// The object's text fields that exist: `name` (a title), `content`, `summary` (a
    /// content warning) and `source.content` (Lemmy's markdown).
    pub fn text(&self, field: TextField) -> Option<&'a str> {
        let o = self.object?;
        match field {
            TextField::Name => o.get("name").and_then(Value::as_str),
            TextField::Content => o.get("content").and_then(Value::as_str),
            TextField::Summary => o.get("summary").and_then(Value::as_str),
            TextField::Source => o
                .get("source")
                .and_then(|s| s.get("content"))
                .and_then(Value::as_str),
        }
    }

    /// The object's hashtags, as written without `#` (not case-folded).
    pub fn hashtags(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tags("Hashtag")
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .map(|n| n.trim_start_matches('#'))
    }

    /// Tags of `kind` on the object and on the innermost activity (Lemmy puts a comment's
    /// mentions on its Create).
    fn tags(&self, kind: &'static str) -> impl Iterator<Item = &'a Map<String, Value>> + '_ {
        let on = |m: Option<&'a Map<String, Value>>| {
            m.and_then(|m| m.get("tag"))
                .into_iter()
                .flat_map(one_or_many)
                .take(MAX_ITEMS)
        };
        on(self.object)
            .chain(on(self.chain.last().copied()))
            .filter_map(Value::as_object)
            .filter(move |t| t.get("type").and_then(Value::as_str) == Some(kind))
    }

    /// Distinct persons the object addresses or mentions (`to`, `cc`, Mention tags),
    /// without the public collection, follower collections and communities named in
    /// `audience`; counting stops past `limit`.
    pub fn recipients(&self, limit: usize) -> usize {
        let Some(o) = self.object else {
            return 0;
        };
        let audience: Vec<&str> = o.get("audience").into_iter().flat_map(ids).collect();
        let mentions = self
            .tags("Mention")
            .filter_map(|t| t.get("href").and_then(Value::as_str));
        let activity = self.chain.last().copied();
        let addressed = ["to", "cc"]
            .into_iter()
            .flat_map(|k| [o.get(k), activity.and_then(|a| a.get(k))])
            .flatten()
            .flat_map(ids)
            .take(2 * MAX_ITEMS);
        let mut seen: Vec<&str> = Vec::new();
        for id in addressed.chain(mentions) {
            if id == sluice_apub::PUBLIC
                || id == "as:Public"
                || id == "Public"
                || id.ends_with("/followers")
                || audience.contains(&id)
                || seen.contains(&id)
            {
                continue;
            }
            seen.push(id);
            if seen.len() > limit {
                break;
            }
        }
        seen.len()
    }

    /// When the object was first published (else the innermost activity).
    pub fn published(&self) -> Option<DateTime<Utc>> {
        let of = |m: &Map<String, Value>| {
            m.get("published")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        self.object
            .and_then(of)
            .or_else(|| self.chain.last().and_then(|m| of(m)))
    }

    /// Whether the activity or its object names `community` (an id) as its audience,
    /// addressee or target: how a rule scoped to a local community finds what is its.
    pub fn concerns(&self, community: &str) -> bool {
        const WHERE: [&str; 5] = ["audience", "to", "cc", "target", "object"];
        let names = |m: &Map<String, Value>| {
            WHERE
                .iter()
                .filter_map(|k| m.get(*k))
                .flat_map(ids)
                .take(MAX_ITEMS)
                .any(|id| id == community)
        };
        self.chain.iter().any(|m| names(m)) || self.object.is_some_and(names)
    }
}

/// The object's text fields a keyword rule may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextField {
    /// `name`: a post's title.
    Name,
    /// `content`: the HTML body.
    Content,
    /// `summary`: a content warning.
    Summary,
    /// `source.content`: the markdown body Lemmy sends beside the HTML.
    Source,
}

impl TextField {
    /// Every field.
    pub const ALL: [TextField; 4] = [
        TextField::Name,
        TextField::Content,
        TextField::Summary,
        TextField::Source,
    ];
}

/// The instance host of an actor id.
pub fn host_of(id: &str) -> Option<InstanceHost> {
    Url::parse(id)
        .ok()
        .and_then(|u| InstanceHost::from_url(&u).ok())
}

fn one_or_many(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Array(a) => Box::new(a.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// The id of a reference: a string, or an object's `id` (or a Link's `href`).
fn id_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(m) => m
            .get("id")
            .or_else(|| m.get("href"))
            .and_then(Value::as_str),
        _ => None,
    }
}

fn ids(v: &Value) -> impl Iterator<Item = &str> {
    one_or_many(v).take(MAX_ITEMS).filter_map(id_of)
}

/// A copy of `raw` with `edit` applied to its innermost embedded object; `None` when
/// there is no such object (nothing to rewrite).
pub fn edit_object(raw: &Value, edit: impl FnOnce(&mut Map<String, Value>)) -> Option<Value> {
    let mut copy = raw.clone();
    let mut cur = copy.as_object_mut()?;
    for _ in 0..=MAX_DEPTH {
        if !is_activity(cur) {
            edit(cur);
            return Some(copy);
        }
        cur = cur.get_mut("object")?.as_object_mut()?;
    }
    None
}
