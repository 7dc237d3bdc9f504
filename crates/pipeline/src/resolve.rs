//! Resolving references while applying: what the view knows, what was fetched for the
//! batch (turned into view rows on first use), and what is still missing (recorded, so the
//! planning pass can ask for all of it at once). A fetched document's own references are
//! resolved here too, checked by `rules` and built into rows by `materialize`.

use crate::ctx::{Ctx, Known};
use crate::fetch::FetchFailure;
use crate::outcome::Miss;
use serde_json::Value;
use sluice_apub::vocab::{ActorKind, Content, Object, Role, host, is_activity_type};
use sluice_trust::authority::Via;
use url::Url;

impl Ctx<'_> {
    /// Whether `url` was remembered as deleted.
    pub(crate) fn remembered_deleted(&self, id: &str) -> bool {
        self.view
            .memory
            .contains_key(&crate::memory::delete_key(id))
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
            Some(Ok(doc)) => self.resolve_fetched(url, doc),
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

    /// A fetched document as view rows, once its own references resolve.
    fn resolve_fetched(&mut self, url: &Url, doc: &Value) -> Option<Known> {
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
