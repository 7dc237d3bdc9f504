//! Applying activities to the view, one at a time in journal order: the threadiverse
//! vocabulary's semantics, the way a Lemmy instance receives them.
//!
//! Every handler first resolves everything it needs (recording what is missing, so the
//! planning pass can look it up or fetch it), then checks, then changes the view. A
//! handler that returns `Step::Need` has changed nothing but materialized facts (fetched
//! actors and content).

mod actors;
mod announce;
mod content;
mod follows;
mod moderation;
mod votes;

use crate::ctx::{Ctx, Known};
use crate::outcome::Step;
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, ActivityRef, ActorKind, Object, ObjectRef, Verb, host};
use sluice_trust::authority::{self, Act, Denied};

pub(crate) use sluice_trust::authority::Via;

/// Applies one activity.
pub(crate) fn apply(ctx: &mut Ctx<'_>, a: &Activity, via: &Via) -> Step {
    if !ctx.view.allowed(&host(&a.actor)) {
        return Step::ignored(
            Rc::PolicyBlocked,
            format!("{} is on an instance our policy refuses", a.actor),
        );
    }
    if let Via::Announced(_) = via
        && let Some(s) = gate(ctx, a, via)
    {
        return s;
    }
    match &a.verb {
        Verb::Create(o) => content::create_or_update(ctx, a, o, false, via),
        Verb::Update(o) => content::create_or_update(ctx, a, o, true, via),
        Verb::Delete {
            object,
            remove_data,
        } => content::delete(ctx, a, object.id(), *remove_data, via),
        Verb::Like(o) => votes::vote(ctx, a, o, 1, via),
        Verb::Dislike(o) => votes::vote(ctx, a, o, -1, via),
        Verb::Follow(o) => follows::follow(ctx, a, o, via),
        Verb::Accept(f) => follows::answer(ctx, a, f, true, via),
        Verb::Reject(f) => follows::answer(ctx, a, f, false, via),
        Verb::Announce(inner) => announce::announce(ctx, a, inner, via),
        Verb::Block {
            object,
            target,
            expires,
            remove_data,
        } => moderation::block(ctx, a, object, target.as_ref(), *expires, *remove_data, via),
        Verb::Lock(o) => moderation::lock(ctx, a, o, true, via),
        Verb::Flag { objects } => moderation::flag(ctx, a, objects, via),
        Verb::Add { object, target } => {
            moderation::collection(ctx, a, object, target.as_ref(), true, via)
        }
        Verb::Remove { object, target } => {
            moderation::collection(ctx, a, object, target.as_ref(), false, via)
        }
        Verb::Resolve(r) => moderation::resolve(ctx, a, r, via),
        Verb::Undo(inner) => undo(ctx, a, inner, via),
        Verb::Other => Step::ignored(
            Rc::UnsupportedActivity,
            format!("{} activities are not acted on", a.kind),
        ),
    }
}

/// What a community's Announce may carry (`authority::carried`), judged by the inner
/// activity's shape before anything is fetched for it. Handlers whose verb only its object
/// decides (an Update naming an actor by id, a Block's target) check again.
pub(super) fn gate(ctx: &Ctx<'_>, a: &Activity, via: &Via) -> Option<Step> {
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
        Verb::Like(_) | Verb::Dislike(_) => Act::Vote,
        Verb::Follow(_) => Act::Follow,
        Verb::Accept(_) | Verb::Reject(_) => Act::AnswerFollow,
        Verb::Announce(_) => Act::Announce,
        Verb::Block { target, .. } => match target {
            Some(t) if !moderation::names_instance(t) => match ctx.kind_of(t.as_str()) {
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

fn undo(ctx: &mut Ctx<'_>, a: &Activity, inner: &ActivityRef, via: &Via) -> Step {
    let ActivityRef::Embedded(inner) = inner else {
        return Step::ignored(
            Rc::UnknownObject,
            format!("Undo of {} without the activity", inner.id()),
        );
    };
    // Votes, follows and deletions are undone by whoever did them (moderation is undone by
    // any moderator: its handlers check that).
    let own = matches!(
        inner.verb,
        Verb::Like(_) | Verb::Dislike(_) | Verb::Follow(_) | Verb::Delete { .. }
    );
    if own && let Err(d) = authority::undo_own(&a.actor, &inner.actor, &inner.kind) {
        return refused(d);
    }
    match &inner.verb {
        Verb::Like(o) | Verb::Dislike(o) => votes::undo(ctx, a, o, via),
        Verb::Follow(o) => follows::unfollow(ctx, a, o, via),
        Verb::Delete { object, .. } => content::undelete(ctx, a, inner, object.id(), via),
        Verb::Block { object, target, .. } => {
            moderation::unblock(ctx, a, object, target.as_ref(), via)
        }
        Verb::Lock(o) => moderation::lock(ctx, a, o, false, via),
        _ => Step::ignored(
            Rc::UnsupportedActivity,
            format!("Undo({}) is not acted on", inner.kind),
        ),
    }
}

/// The step for a refusal of the authority rules.
pub(crate) fn refused(d: Denied) -> Step {
    Step::Ignored(d.rc, d.reason)
}

/// An activity relayed by a community must concern that community (`authority::check_via`).
pub(crate) fn check_via(community: &str, via: &Via) -> Option<Step> {
    authority::check_via(community, via).err().map(refused)
}

/// Whether an activity that reached us `via` may do `act` (`authority::carried`).
pub(crate) fn carried(act: authority::Act, via: &Via) -> Option<Step> {
    authority::carried(act, via, false).err().map(refused)
}

/// The local community that relays a directly received activity about its content.
pub(crate) fn relay_for(ctx: &Ctx<'_>, community: &str, via: &Via) -> Option<String> {
    let local = ctx.view.communities.get(community).is_some_and(|c| c.local);
    (local && *via == Via::Direct).then(|| community.to_string())
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

/// `Step` for an actor that may not do something.
pub(crate) fn not_permitted(actor: &str, what: &str) -> Step {
    Step::ignored(Rc::NotPermitted, format!("{actor} may not {what}"))
}
