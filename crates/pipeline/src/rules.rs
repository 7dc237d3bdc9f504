//! Who may do what, asked of `sluice_trust::authority` with the facts the view holds:
//! moderation (fetching a community's moderators collection when the rules cannot decide),
//! bans, what a community's Announce may carry, and which communities' content is kept.
//! Handlers resolve first, then ask here, then change the view.

use crate::ctx::{Ctx, Known};
use crate::outcome::{Miss, Outcome};
use sluice_apub::Rc;
use sluice_apub::vocab::{
    Activity, ActivityRef, ActorKind, Object, ObjectRef, Verb, collection_items, host,
};
use sluice_trust::authority::{self, Act, Denied, Moderation, Via};
use url::Url;

impl Ctx<'_> {
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
}

/// What a community's Announce may carry (`authority::carried`), judged by the inner
/// activity's shape before anything is fetched for it. Handlers whose verb only its object
/// decides (an Update naming an actor by id, a Block's target) check again.
pub(crate) fn gate(ctx: &Ctx<'_>, a: &Activity, via: &Via) -> Option<Outcome> {
    let local = ctx.env.urls.is_local(&a.actor);
    match act_of(ctx, a) {
        Some(act) => authority::carried(act, via, local).err().map(refused),
        None if local => authority::carried(Act::Announce, via, true)
            .err()
            .map(refused),
        None => None,
    }
}

/// The authority table's verb for an activity, as far as its shape and the view tell.
fn act_of(ctx: &Ctx<'_>, a: &Activity) -> Option<Act> {
    let by_kind = |k: Option<Known>, default: Act| match k {
        Some(Known::Person) => Act::UpdatePerson,
        Some(Known::Community) => Act::UpdateCommunity,
        Some(Known::Message) => Act::WriteMessage,
        _ => default,
    };
    Some(match &a.verb {
        Verb::Create(o) | Verb::Update(o) => match o {
            ObjectRef::Embedded(obj) => match &**obj {
                Object::Actor(d) if d.kind == ActorKind::Group => Act::UpdateCommunity,
                Object::Actor(_) => Act::UpdatePerson,
                _ => by_kind(ctx.kind_of(obj.id().as_str()), Act::WriteContent),
            },
            ObjectRef::Id(u) => by_kind(ctx.kind_of(u.as_str()), Act::WriteContent),
        },
        Verb::Delete { object, .. } => {
            let id = object.id();
            match ctx.kind_of(id.as_str()) {
                Some(Known::Person) => Act::DeletePerson,
                Some(Known::Community) => Act::DeleteCommunity,
                Some(Known::Message) => Act::WriteMessage,
                _ if *id == a.actor => Act::DeletePerson,
                _ => Act::DeleteContent,
            }
        }
        Verb::Like(_) | Verb::Dislike(_) | Verb::EmojiReact(_) => Act::Vote,
        Verb::Follow(_) => Act::Follow,
        Verb::Accept(_) | Verb::Reject(_) => Act::AnswerFollow,
        Verb::Announce(_) => Act::Announce,
        Verb::Block { target, .. } => match target {
            Some(t) if !names_instance(t) => match ctx.kind_of(t.as_str()) {
                Some(Known::Community) | None => Act::Moderate,
                Some(_) => Act::SiteBan,
            },
            _ => Act::SiteBan,
        },
        Verb::Lock(_) | Verb::Add { .. } | Verb::Remove { .. } => Act::Moderate,
        Verb::Flag { .. } => Act::Flag,
        Verb::Resolve(_) => Act::Resolve,
        Verb::Undo(ActivityRef::Embedded(inner)) => return act_of(ctx, inner),
        Verb::Undo(ActivityRef::Id(_)) | Verb::Other => return None,
    })
}

/// Lemmy names the instance actor (`https://host/`) as the target of an instance ban.
pub(crate) fn names_instance(t: &Url) -> bool {
    t.path() == "/" || t.path().is_empty()
}

/// The step for a refusal of the authority rules.
pub(crate) fn refused(d: Denied) -> Outcome {
    Outcome::Ignored(d.rc, d.reason)
}

/// An activity relayed by a community must concern that community (`authority::check_via`).
pub(crate) fn check_via(community: &str, via: &Via) -> Option<Outcome> {
    authority::check_via(community, via).err().map(refused)
}

/// Whether an activity that reached us `via` may do `act` (`authority::carried`).
pub(crate) fn carried(act: authority::Act, via: &Via) -> Option<Outcome> {
    authority::carried(act, via, false).err().map(refused)
}

/// Whether `person` is banned from `community` (or from its own instance).
pub(crate) fn banned(ctx: &Ctx<'_>, person: &str, community: &str) -> bool {
    let now = chrono::Utc::now();
    let active = |k: (String, Option<String>)| {
        ctx.view
            .bans
            .get(&k)
            .is_some_and(|b| b.present && b.expires.is_none_or(|e| e > now))
    };
    ctx.view.persons.get(person).is_some_and(|p| p.banned)
        || active((person.to_string(), Some(community.to_string())))
        || active((person.to_string(), None))
}

/// `Outcome` for an actor that may not do something.
pub(crate) fn not_permitted(actor: &str, what: &str) -> Outcome {
    Outcome::ignored(Rc::NotPermitted, format!("{actor} may not {what}"))
}
