//! Resolving references while applying: what the view knows, what was fetched for the
//! batch (turned into view rows on first use), and what is still missing (recorded, so the
//! planning pass can ask for all of it at once).

use crate::fetch::FetchFailure;
use crate::outcome::{Miss, Step};
use crate::settings::Settings;
use crate::view::{
    CommentContent, CommentState, CommunityState, PersonState, PostContent, PostState, View,
};
use serde_json::Value;
use sluice_apub::LocalUrls;
use sluice_apub::vocab::{
    ActorDoc, ActorKind, Content, Object, Role, collection_items, host, is_activity_type,
};
use sluice_db::ingest::changes::{CommunityUpsert, KeyUpsert, PersonUpsert};
use sluice_trust::authority::{self, Moderation, Via};
use sluice_trust::host::InstanceHost;
use sluice_trust::instances::inbox_belongs_to;
use std::collections::HashMap;
use url::Url;

/// What the pipeline was started with.
pub(crate) struct Env {
    pub settings: Settings,
    pub urls: LocalUrls,
}

/// Documents fetched for a batch, by the URL they were fetched by.
pub(crate) type Fetched = HashMap<String, Result<Value, FetchFailure>>;

/// What an id is in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Person,
    Community,
    Post,
    Comment,
    Message,
}

/// The state one activity is applied in.
pub(crate) struct Ctx<'a> {
    pub view: &'a mut View,
    pub fetched: &'a Fetched,
    pub env: &'a Env,
    /// Journal id of the row being applied (orders Undos, see `ingest_memory`).
    pub journal_id: i64,
    /// The row's activity as received (embedded in Accepts and relayed Announces).
    pub raw: &'a Value,
    misses: Vec<Miss>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        view: &'a mut View,
        fetched: &'a Fetched,
        env: &'a Env,
        journal_id: i64,
        raw: &'a Value,
    ) -> Self {
        Ctx {
            view,
            fetched,
            env,
            journal_id,
            raw,
            misses: Vec::new(),
        }
    }

    pub(crate) fn miss(&mut self, m: Miss) {
        self.misses.push(m);
    }

    /// The step for what could not be resolved: everything fetchable at once, else the
    /// first other reason.
    pub(crate) fn missing(&mut self) -> Step {
        let fetch: Vec<Url> = self
            .misses
            .iter()
            .filter_map(|m| match m {
                Miss::Fetch(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        let step = if !fetch.is_empty() {
            Step::Need(fetch)
        } else {
            match self.misses.first() {
                Some(m) => m.step(),
                None => Step::ignored(sluice_apub::Rc::UnknownObject, "unresolved reference"),
            }
        };
        self.misses.clear();
        step
    }

    pub(crate) fn kind_of(&self, id: &str) -> Option<Known> {
        let id = self.view.canonical(id);
        let v = &self.view;
        if v.persons.contains_key(id) {
            Some(Known::Person)
        } else if v.communities.contains_key(id) {
            Some(Known::Community)
        } else if v.posts.contains_key(id) {
            Some(Known::Post)
        } else if v.comments.contains_key(id) {
            Some(Known::Comment)
        } else if v.messages.contains_key(id) {
            Some(Known::Message)
        } else {
            None
        }
    }

    /// The canonical id of `url` as a String.
    pub(crate) fn id(&self, url: &Url) -> String {
        self.view.canonical(url.as_str()).to_string()
    }

    /// Whether `url` was remembered as deleted.
    pub(crate) fn remembered_deleted(&self, id: &str) -> bool {
        self.view.memory.contains_key(&crate::keys::delete_key(id))
    }

    /// Resolves `url`: known to the view, or materialized from its fetched document.
    /// Records why not otherwise.
    pub(crate) fn resolve(&mut self, url: &Url) -> Option<Known> {
        if let Some(k) = self.kind_of(url.as_str()) {
            return Some(k);
        }
        if !self.view.allowed(&host(url)) {
            self.miss(Miss::Blocked(url.clone()));
            return None;
        }
        if self.env.urls.is_local(url) {
            self.miss(Miss::Unknown(url.clone()));
            return None;
        }
        if !self.view.looked_up.contains(url.as_str()) {
            self.miss(Miss::Fetch(url.clone()));
            return None;
        }
        if self.remembered_deleted(url.as_str()) {
            self.miss(Miss::Gone(url.clone()));
            return None;
        }
        match self.fetched.get(url.as_str()) {
            None => {
                self.miss(Miss::Fetch(url.clone()));
                None
            }
            Some(Err(f)) => {
                self.miss(Miss::Failed(url.clone(), f.clone()));
                None
            }
            Some(Ok(doc)) => self.materialize(url, doc),
        }
    }

    /// A person (or other person-like actor).
    pub(crate) fn person(&mut self, url: &Url) -> Option<String> {
        match self.resolve(url)? {
            Known::Person => Some(self.id(url)),
            _ => {
                self.miss(Miss::WrongType(url.clone(), "person"));
                None
            }
        }
    }

    /// A post or a comment.
    pub(crate) fn content(&mut self, url: &Url) -> Option<(String, Known)> {
        match self.resolve(url)? {
            k @ (Known::Post | Known::Comment) => Some((self.id(url), k)),
            _ => {
                self.miss(Miss::WrongType(url.clone(), "post or comment"));
                None
            }
        }
    }

    /// The community a known post or comment belongs to.
    pub(crate) fn community_of(&self, id: &str) -> Option<String> {
        if let Some(p) = self.view.posts.get(id) {
            return Some(p.community.clone());
        }
        let c = self.view.comments.get(id)?;
        self.view.posts.get(&c.post).map(|p| p.community.clone())
    }

    /// The community of content, from its `audience`, the `Group`s of its `attributedTo`,
    /// `to` and `cc`: a known community first; else the candidates are fetched (the audience
    /// alone when sent). When none of them is a community and the content came in an
    /// Announce, the announcing community is its community: a community vouches for its own
    /// content, and one naming another community is still refused (`CommunityMismatch`).
    pub(crate) fn community_for(&mut self, c: &Content, via: &Via) -> Option<String> {
        let cands = community_candidates(c);
        for u in &cands {
            let id = self.id(u);
            if self.view.communities.contains_key(&id) {
                return Some(id);
            }
        }
        let mut pending = false;
        let mut to_fetch: Vec<Url> = Vec::new();
        for u in &cands {
            if self.kind_of(u.as_str()).is_some()
                || !self.view.allowed(&host(u))
                || self.env.urls.is_local(u)
            {
                continue;
            }
            if !self.view.looked_up.contains(u.as_str()) {
                self.miss(Miss::Fetch(u.clone()));
                pending = true;
                continue;
            }
            match self.fetched.get(u.as_str()) {
                None => to_fetch.push(u.clone()),
                Some(Ok(doc)) => {
                    if let Ok(Object::Actor(a)) = Object::parse(doc)
                        && a.kind == ActorKind::Group
                        && host(&a.id) == host(u)
                    {
                        return Some(self.add_actor(u, &a));
                    }
                }
                Some(Err(_)) => {}
            }
        }
        if pending {
            return None;
        }
        if let Some(a) = &c.audience
            && to_fetch.contains(a)
        {
            to_fetch = vec![a.clone()];
        }
        if to_fetch.is_empty() {
            if let Via::Announced(announcer) = via {
                return Some(announcer.clone());
            }
            self.miss(Miss::NoCommunity(c.id.clone()));
        }
        for u in to_fetch.into_iter().take(3) {
            self.miss(Miss::Fetch(u));
        }
        None
    }

    /// Whether `actor` may moderate `community` (`authority::moderates`). An actor the
    /// rules cannot decide on makes us fetch the community's moderators collection once.
    /// `None`: that fetch is pending.
    pub(crate) fn may_moderate(&mut self, actor: &str, community: &str) -> Option<bool> {
        if actor == community {
            return Some(true);
        }
        let Some(c) = self.view.communities.get(community) else {
            return Some(false);
        };
        let moderators_url = c.moderators_url.as_deref().and_then(|m| Url::parse(m).ok());
        let facts = authority::Community {
            id: community,
            local: c.local,
            listed: c.moderators.contains(actor),
            moderators_url: moderators_url.as_ref(),
        };
        let m = match authority::moderates(actor, &facts) {
            Moderation::Yes => return Some(true),
            Moderation::No => return Some(false),
            Moderation::AskCollection(m) => m,
        };
        if !self.view.allowed(&host(&m)) {
            return Some(false);
        }
        match self.fetched.get(m.as_str()) {
            None => {
                // Collections are never in the database: go straight to the fetch.
                self.view.looked_up.insert(m.to_string());
                self.miss(Miss::Fetch(m));
                None
            }
            Some(Ok(doc)) => {
                let listed = authority::listed(actor, &collection_items(doc));
                if listed && self.view.persons.contains_key(actor) {
                    let key = (community.to_string(), actor.to_string());
                    self.view.moderator_changes.insert(key, true);
                    if let Some(c) = self.view.communities.get_mut(community) {
                        c.moderators.insert(actor.to_string());
                    }
                }
                Some(listed)
            }
            Some(Err(_)) => Some(false),
        }
    }

    /// Turns a fetched document into view rows.
    fn materialize(&mut self, url: &Url, doc: &Value) -> Option<Known> {
        let kind = doc.get("type").and_then(Value::as_str).unwrap_or_default();
        if is_activity_type(kind) {
            self.miss(Miss::WrongType(url.clone(), "object"));
            return None;
        }
        let obj = match Object::parse(doc) {
            Ok(o) => o,
            Err(e) => {
                let f = FetchFailure::invalid(format!("{url}: {e}"));
                self.miss(Miss::Failed(url.clone(), f));
                return None;
            }
        };
        if host(obj.id()) != host(url) {
            let f = FetchFailure::invalid(format!("{url} answered with {}", obj.id()));
            self.miss(Miss::Failed(url.clone(), f));
            return None;
        }
        if obj.id() != url {
            self.view
                .aliases
                .insert(url.to_string(), obj.id().to_string());
            if let Some(k) = self.kind_of(obj.id().as_str()) {
                return Some(k);
            }
        }
        match obj {
            Object::Actor(a) => {
                self.add_actor(url, &a);
                self.kind_of(a.id.as_str())
            }
            Object::Content(c) => match c.role() {
                Role::Post => {
                    let (community, creator) = self.post_parents(&c, &Via::Direct)?;
                    self.add_post(&c, community, creator);
                    Some(Known::Post)
                }
                Role::Comment => {
                    let (post, parent, creator) = self.comment_parents(&c)?;
                    self.add_comment(&c, post, parent, creator);
                    Some(Known::Comment)
                }
                Role::PrivateMessage => {
                    self.miss(Miss::WrongType(url.clone(), "post or comment"));
                    None
                }
            },
            Object::Tombstone(_) => {
                self.miss(Miss::Gone(url.clone()));
                None
            }
            Object::Other { .. } => {
                self.miss(Miss::WrongType(url.clone(), "object"));
                None
            }
        }
    }

    /// The community and author of a new post, with the checks every new post passes: the
    /// author is on the post's host, and the community is one we keep.
    pub(crate) fn post_parents(&mut self, c: &Content, via: &Via) -> Option<(String, String)> {
        let author = self.author_of(c)?;
        let creator = self.person(&author);
        let community = self.community_for(c, via);
        let (creator, community) = (creator?, community?);
        if !self.kept(&community) {
            self.miss(Miss::NotKept(c.id.clone()));
            return None;
        }
        Some((community, creator))
    }

    /// The post, parent comment and author of a new comment.
    pub(crate) fn comment_parents(
        &mut self,
        c: &Content,
    ) -> Option<(String, Option<String>, String)> {
        let author = self.author_of(c)?;
        let parent_url = c.in_reply_to.clone()?;
        let creator = self.person(&author);
        let parent = self.content(&parent_url);
        let (creator, (parent, kind)) = (creator?, parent?);
        let (post, parent) = match kind {
            Known::Post => (parent, None),
            _ => {
                let post = self.view.comments.get(&parent)?.post.clone();
                (post, Some(parent))
            }
        };
        Some((post, parent, creator))
    }

    fn author_of(&mut self, c: &Content) -> Option<Url> {
        let author = c.author()?.clone();
        if host(&author) != host(&c.id) {
            let f = FetchFailure::invalid(format!("{} is attributed to another host", c.id));
            self.miss(Miss::Failed(c.id.clone(), f));
            return None;
        }
        Some(author)
    }

    /// Content of this community is stored here: it is local, or a local user follows it,
    /// or the settings keep everything.
    pub(crate) fn kept(&self, community: &str) -> bool {
        self.env.settings.keep_all_announced
            || self
                .view
                .communities
                .get(community)
                .is_some_and(|c| c.local || c.has_local_follower)
    }

    /// Adds (or refreshes) an actor from its document (fetched by `url`, or embedded in an
    /// Update by itself, then without its key); returns its id.
    pub(crate) fn add_actor(&mut self, url: &Url, a: &ActorDoc) -> String {
        let id = a.id.to_string();
        if id != url.as_str() {
            self.view.aliases.insert(url.to_string(), id.clone());
        }
        let (inbox, shared_inbox) = own_inboxes(a);
        let to_s = |u: &Option<Url>| u.as_ref().map(Url::to_string);
        // Key material only from the owner's own document, fetched by its id; never for
        // an actor of ours.
        let key = a.public_key.as_ref().filter(|k| {
            !self.env.urls.is_local(&a.id)
                && authority::key_from_document(url, &a.id, &k.owner, &k.id)
        });
        if let Some(k) = key {
            self.view.keys.insert(
                k.id.clone(),
                KeyUpsert {
                    key_id: k.id.clone(),
                    owner: id.clone(),
                    pem: k.pem.clone(),
                },
            );
        }
        let pem = key.map(|k| k.pem.clone());
        if a.kind == ActorKind::Group {
            let old = self.view.communities.get(&id);
            let profile = CommunityUpsert {
                ap_id: id.clone(),
                domain: host(&a.id),
                name: a.username.clone(),
                title: a.display_name.clone().unwrap_or_else(|| a.username.clone()),
                summary: a.summary.clone(),
                icon: to_s(&a.icon),
                banner: to_s(&a.banner),
                inbox,
                shared_inbox,
                followers_url: to_s(&a.followers),
                moderators_url: to_s(&a.moderators),
                featured_url: to_s(&a.featured),
                public_key_pem: pem,
                nsfw: a.sensitive,
                posting_restricted_to_mods: a.posting_restricted_to_mods,
                deleted: old.is_some_and(|c| c.deleted),
                removed: old.is_some_and(|c| c.removed),
                published: a.published,
                updated: a.updated,
            };
            let state = CommunityState {
                local: false,
                moderators_url: profile.moderators_url.clone(),
                featured_url: profile.featured_url.clone(),
                posting_restricted_to_mods: a.posting_restricted_to_mods,
                deleted: profile.deleted,
                removed: profile.removed,
                updated: a.updated,
                has_local_follower: old.is_some_and(|c| c.has_local_follower),
                moderators: old.map(|c| c.moderators.clone()).unwrap_or_default(),
                profile: Some(profile),
                flags_dirty: false,
            };
            self.view.communities.insert(id.clone(), state);
        } else {
            let old = self.view.persons.get(&id);
            let profile = PersonUpsert {
                ap_id: id.clone(),
                domain: host(&a.id),
                name: a.username.clone(),
                display_name: a.display_name.clone(),
                summary: a.summary.clone(),
                avatar: to_s(&a.icon),
                banner: to_s(&a.banner),
                inbox: inbox.clone(),
                shared_inbox,
                public_key_pem: pem,
                bot: matches!(a.kind, ActorKind::Service | ActorKind::Application),
                banned: old.is_some_and(|p| p.banned),
                deleted: old.is_some_and(|p| p.deleted),
                published: a.published,
                updated: a.updated,
            };
            let state = PersonState {
                local: false,
                inbox,
                banned: profile.banned,
                deleted: profile.deleted,
                updated: a.updated,
                published: a.published,
                profile: Some(profile),
                flags_dirty: false,
            };
            self.view.persons.insert(id.clone(), state);
        }
        id
    }

    /// Adds a new post.
    pub(crate) fn add_post(&mut self, c: &Content, community: String, creator: String) {
        let state = PostState {
            community,
            creator,
            locked: c.comments_enabled == Some(false),
            featured: c.stickied == Some(true),
            deleted: false,
            removed: false,
            published: c.published,
            updated: c.updated,
            content: Some(post_content(c)),
            flags_dirty: false,
        };
        self.view.posts.insert(c.id.to_string(), state);
    }

    /// Adds a new comment.
    pub(crate) fn add_comment(
        &mut self,
        c: &Content,
        post: String,
        parent: Option<String>,
        creator: String,
    ) {
        let state = CommentState {
            post,
            parent,
            creator,
            locked: false,
            deleted: false,
            removed: false,
            published: c.published,
            updated: c.updated,
            content: Some(comment_content(c)),
            flags_dirty: false,
        };
        self.view.comments.insert(c.id.to_string(), state);
    }
}

/// Candidates for the community of content considered at most (`audience` first, then
/// `to`, then `cc`): Lemmy addresses a community in the first few, and a document with
/// thousands of addressees must not cost thousands of lookups and fetches.
const COMMUNITY_CANDIDATES: usize = 4;

/// The community candidates of content, bounded (`COMMUNITY_CANDIDATES`).
pub(crate) fn community_candidates(c: &Content) -> Vec<Url> {
    let mut cands = c.community_candidates();
    cands.truncate(COMMUNITY_CANDIDATES);
    cands
}

/// A post's stored fields from its document.
pub(crate) fn post_content(c: &Content) -> PostContent {
    PostContent {
        name: c.title(),
        url: c.url.as_ref().map(Url::to_string),
        body: c.content.clone(),
        source: c.source.clone(),
        language: c.language.clone(),
        nsfw: c.sensitive,
    }
}

/// A comment's stored fields from its document.
pub(crate) fn comment_content(c: &Content) -> CommentContent {
    CommentContent {
        content: c.content.clone().unwrap_or_default(),
        source: c.source.clone(),
        language: c.language.clone(),
        distinguished: c.distinguished,
    }
}

/// The inbox and shared inbox of a remote actor, as stored: only on the actor's own host
/// (`sluice_trust::instances::inbox_belongs_to`). A foreign inbox is replaced by the
/// actor's id + `/inbox` (what a missing one defaults to: on the actor's host, so at worst
/// undeliverable), a foreign shared inbox is dropped; either is logged with its rc.
fn own_inboxes(a: &ActorDoc) -> (String, Option<String>) {
    let id = a.id.as_str();
    let inbox = own_inbox(id, a.inbox.as_ref().map(Url::as_str));
    let shared = a
        .shared_inbox
        .as_ref()
        .filter(|u| on_actor_host(id, u.as_str()))
        .map(Url::to_string);
    (inbox, shared)
}

/// `inbox` when it is on the actor's host, else the actor's id + `/inbox`.
pub(crate) fn own_inbox(actor: &str, inbox: Option<&str>) -> String {
    match inbox {
        Some(i) if on_actor_host(actor, i) => i.to_string(),
        _ => LocalUrls::sub(actor, "inbox"),
    }
}

fn on_actor_host(actor: &str, inbox: &str) -> bool {
    let ok = Url::parse(actor)
        .ok()
        .and_then(|u| InstanceHost::from_url(&u).ok())
        .is_some_and(|h| inbox_belongs_to(&h, inbox));
    if !ok {
        tracing::info!(rc = %sluice_apub::Rc::InboxForeignHost, actor, inbox,
            "inbox not on the actor's host: not used");
    }
    ok
}
