//! Applying activities to the view, one at a time in journal order: the threadiverse
//! vocabulary's semantics, the way a Lemmy instance receives them.
//!
//! Every handler first resolves everything it needs (`crate::resolve`, recording what is
//! missing, so the planning pass can look it up or fetch it), then checks
//! (`crate::rules`), then changes the view. A handler that returns `Outcome::Need` has
//! changed nothing but materialized facts (fetched actors and content).

mod actors;
mod announce;
mod content;
mod follows;
mod moderation;
mod votes;

use crate::ctx::Ctx;
use crate::outcome::Outcome;
use crate::rules::{gate, refused};
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, ActivityRef, Verb, host};
use sluice_trust::authority;

pub(crate) use sluice_trust::authority::Via;

/// Whether a handler does what its activity says, or undoes it (the activity is an Undo of
/// it, or the verb's opposite: unlock, restore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sense {
    Do,
    Undo,
}

/// Applies one activity.
pub(crate) fn apply(ctx: &mut Ctx<'_>, a: &Activity, via: &Via) -> Outcome {
    if !ctx.view.allowed(&host(&a.actor)) {
        return Outcome::ignored(
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
        Verb::Create(o) => content::create_or_update(ctx, a, o, content::Write::Create, via),
        Verb::Update(o) => content::create_or_update(ctx, a, o, content::Write::Update, via),
        Verb::Delete {
            object,
            remove_data,
        } => content::delete(ctx, a, object.id(), *remove_data, via),
        Verb::Like(o) => votes::vote(ctx, a, o, 1, via),
        Verb::Dislike(o) => votes::vote(ctx, a, o, -1, via),
        Verb::EmojiReact(o) => votes::vote(ctx, a, o, 1, via),
        Verb::Follow(o) => follows::follow(ctx, a, o, via),
        Verb::Accept(f) => follows::answer(ctx, a, f, follows::Answer::Accept, via),
        Verb::Reject(f) => follows::answer(ctx, a, f, follows::Answer::Reject, via),
        Verb::Announce(inner) => announce::announce(ctx, a, inner, via),
        Verb::Block {
            object,
            target,
            expires,
            remove_data,
        } => moderation::block(ctx, a, object, target.as_ref(), *expires, *remove_data, via),
        Verb::Lock(o) => moderation::lock(ctx, a, o, Sense::Do, via),
        Verb::Flag { objects } => moderation::flag(ctx, a, objects, via),
        Verb::Add { object, target } => moderation::collection(
            ctx,
            a,
            object,
            target.as_ref(),
            moderation::Change::Add,
            via,
        ),
        Verb::Remove { object, target } => moderation::collection(
            ctx,
            a,
            object,
            target.as_ref(),
            moderation::Change::Remove,
            via,
        ),
        Verb::Resolve(r) => moderation::resolve(ctx, a, r, via),
        Verb::Undo(inner) => undo(ctx, a, inner, via),
        Verb::Other => Outcome::ignored(
            Rc::UnsupportedActivity,
            format!("{} activities are not acted on", a.kind),
        ),
    }
}

fn undo(ctx: &mut Ctx<'_>, a: &Activity, inner: &ActivityRef, via: &Via) -> Outcome {
    let ActivityRef::Embedded(inner) = inner else {
        return Outcome::ignored(
            Rc::UnknownObject,
            format!("Undo of {} without the activity", inner.id()),
        );
    };
    // Votes, follows and deletions are undone by whoever did them (moderation is undone by
    // any moderator: its handlers check that).
    let own = matches!(
        inner.verb,
        Verb::Like(_)
            | Verb::Dislike(_)
            | Verb::EmojiReact(_)
            | Verb::Follow(_)
            | Verb::Delete { .. }
    );
    if own && let Err(d) = authority::undo_own(&a.actor, &inner.actor, &inner.kind) {
        return refused(d);
    }
    match &inner.verb {
        Verb::Like(o) | Verb::Dislike(o) | Verb::EmojiReact(o) => votes::undo(ctx, a, o, via),
        Verb::Follow(o) => follows::unfollow(ctx, a, o, via),
        Verb::Delete { object, .. } => content::undelete(ctx, a, inner, object.id(), via),
        Verb::Block { object, target, .. } => {
            moderation::unblock(ctx, a, object, target.as_ref(), via)
        }
        Verb::Lock(o) => moderation::lock(ctx, a, o, Sense::Undo, via),
        _ => Outcome::ignored(
            Rc::UnsupportedActivity,
            format!("Undo({}) is not acted on", inner.kind),
        ),
    }
}

/// The local community that relays a directly received activity about its content.
pub(crate) fn relay_for(ctx: &Ctx<'_>, community: &str, via: &Via) -> Option<String> {
    let local = ctx.view.communities.get(community).is_some_and(|c| c.local);
    (local && *via == Via::Direct).then(|| community.to_string())
}
