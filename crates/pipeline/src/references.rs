//! What a batch refers to, for the one lookup round: every id its activities name (nested
//! ones included), the vote/follow pairs and memory keys they may touch, and the instance
//! domains whose policy matters.

use crate::memory::{ban_key, delete_key, follow_key, vote_key};
use sluice_apub::vocab::{
    Activity, ActivityRef, AnnounceObject, Object, ObjectRef, Verb, host, is_public,
};
use sluice_db::ingest::lookup::Keys;
use std::collections::BTreeSet;
use url::Url;

/// Addressees (`to` and `cc`) of one activity looked up at most.
const ADDRESSEES: usize = 16;

/// Collects keys, deduplicated.
#[derive(Default)]
pub(crate) struct Collector {
    ids: BTreeSet<String>,
    votes: BTreeSet<(String, String)>,
    follows: BTreeSet<(String, String)>,
    follow_activities: BTreeSet<String>,
    domains: BTreeSet<String>,
    memory: BTreeSet<String>,
}

impl Collector {
    pub(crate) fn url(&mut self, u: &Url) {
        if is_public(u) || u.path().ends_with("/followers") {
            return;
        }
        self.domains.insert(host(u));
        self.ids.insert(u.to_string());
    }

    fn urls<'a>(&mut self, us: impl IntoIterator<Item = &'a Url>) {
        for u in us {
            self.url(u);
        }
    }

    fn object(&mut self, o: &Object) {
        self.url(o.id());
        if let Object::Content(c) = o {
            self.urls(&c.attributed_to);
            self.urls(crate::resolve::community_candidates(c).iter());
            if let Some(p) = &c.in_reply_to {
                self.url(p);
            }
            self.memory.insert(delete_key(c.id.as_str()));
        }
    }

    fn object_ref(&mut self, o: &ObjectRef) {
        match o {
            ObjectRef::Id(u) => self.url(u),
            ObjectRef::Embedded(o) => self.object(o),
        }
    }

    /// Everything `a` (and what it embeds) refers to.
    pub(crate) fn activity(&mut self, a: &Activity) {
        let actor = a.actor.as_str();
        self.url(&a.actor);
        if let Some(u) = &a.audience {
            self.url(u);
        }
        // Addressees matter for private messages and reports, which name a handful; the
        // rest of a long list is not looked up.
        self.urls(a.to.iter().chain(&a.cc).take(ADDRESSEES));
        match &a.verb {
            Verb::Create(o) | Verb::Update(o) => self.object_ref(o),
            Verb::Delete { object, .. } => {
                self.object_ref(object);
                self.memory.insert(delete_key(object.id().as_str()));
            }
            Verb::Like(o) | Verb::Dislike(o) | Verb::EmojiReact(o) => {
                self.url(o);
                self.votes.insert((actor.to_string(), o.to_string()));
                self.memory.insert(vote_key(actor, o.as_str()));
                self.memory.insert(delete_key(o.as_str()));
            }
            Verb::Follow(o) => {
                self.url(o);
                self.follows.insert((o.to_string(), actor.to_string()));
                self.memory.insert(follow_key(actor, o.as_str()));
            }
            Verb::Block { object, target, .. } => {
                self.url(object);
                if let Some(t) = target {
                    self.url(t);
                }
                let t = target.as_ref().map(Url::as_str);
                self.memory.insert(ban_key(object.as_str(), t));
                self.memory.insert(ban_key(object.as_str(), None));
            }
            Verb::Lock(o) => self.url(o),
            Verb::Flag { objects } => {
                self.urls(objects);
                self.ids.insert(a.id.to_string());
            }
            Verb::Add { object, target } | Verb::Remove { object, target } => {
                self.url(object);
                if let Some(t) = target {
                    self.url(t);
                    // The community owning a `/moderators` or `/featured` collection.
                    if let Ok(parent) = t.join(".") {
                        let p = parent.as_str().trim_end_matches('/');
                        if let Ok(p) = Url::parse(p) {
                            self.url(&p);
                        }
                    }
                }
            }
            Verb::Undo(inner)
            | Verb::Accept(inner)
            | Verb::Reject(inner)
            | Verb::Resolve(inner) => match inner {
                ActivityRef::Embedded(i) => {
                    self.activity(i);
                    if let (Verb::Accept(_) | Verb::Reject(_), Verb::Follow(c)) = (&a.verb, &i.verb)
                    {
                        self.follows.insert((c.to_string(), i.actor.to_string()));
                    }
                    if let Verb::Resolve(_) = &a.verb {
                        self.ids.insert(i.id.to_string());
                    }
                }
                ActivityRef::Id(u) => {
                    self.follow_activities.insert(u.to_string());
                    self.ids.insert(u.to_string());
                }
            },
            Verb::Announce(inner) => match inner {
                AnnounceObject::Activity(i) => self.activity(i),
                AnnounceObject::Object(o) => self.object(o),
                AnnounceObject::Id(u) => self.url(u),
            },
            Verb::Other => {}
        }
    }

    pub(crate) fn finish(self) -> Keys {
        Keys {
            ids: self.ids.into_iter().collect(),
            votes: self.votes.into_iter().collect(),
            follows: self.follows.into_iter().collect(),
            follow_activities: self.follow_activities.into_iter().collect(),
            domains: self.domains.into_iter().collect(),
            memory: self.memory.into_iter().collect(),
        }
    }
}
