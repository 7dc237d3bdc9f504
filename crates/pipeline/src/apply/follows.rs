//! Follow / Undo(Follow) of local communities (answered with an Accept through the send
//! queue), our own follows of remote communities (recorded `pending` when a local user
//! publishes one), and Accept / Reject of those.

use super::Via;
use crate::ctx::{Ctx, Known};
use crate::memory::follow_key;
use crate::outcome::Outcome;
use crate::relay;
use crate::rules::{banned, carried, refused};
use crate::view::FollowState;
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, ActivityRef, Verb};
use sluice_trust::authority::{self, Act};
use url::Url;

const ACCEPTED: &str = "accepted";
const PENDING: &str = "pending";

pub(super) fn follow(ctx: &mut Ctx<'_>, a: &Activity, object: &Url, via: &Via) -> Outcome {
    if let Some(s) = carried(Act::Follow, via) {
        return s;
    }
    if ctx.env.urls.is_local(&a.actor) && !ctx.env.urls.is_local(object) {
        return follow_remote(ctx, a, object);
    }
    let community = ctx.id(object);
    match ctx.view.communities.get(&community) {
        Some(c) if c.local => {}
        Some(_) => {
            return Outcome::ignored(
                Rc::NotForUs,
                format!("{community} is not a local community"),
            );
        }
        None if ctx.view.persons.get(&community).is_some_and(|p| p.local) => {
            return Outcome::ignored(Rc::UnsupportedObject, "following users is not supported");
        }
        None => return Outcome::ignored(Rc::NotForUs, format!("{community} is not known here")),
    }
    let Some(person) = ctx.person(&a.actor) else {
        return ctx.missing();
    };
    if banned(ctx, &person, &community) {
        return Outcome::ignored(
            Rc::ActorBanned,
            format!("{person} is banned from {community}"),
        );
    }
    if let Some(undo) = ctx.view.memory.get(&follow_key(&person, &community))
        && *undo > ctx.journal_id
    {
        return Outcome::ignored(Rc::Superseded, "undone by an Undo that arrived first");
    }
    let key = (community.clone(), person.clone());
    let same = ctx.view.follows.get(&key).is_some_and(|f| {
        f.state.as_deref() == Some(ACCEPTED) && f.activity_id.as_deref() == Some(a.id.as_str())
    });
    if same {
        // A re-delivery of a Follow already accepted: the Accept went out then.
        return Outcome::unchanged();
    }
    ctx.view.follows.insert(
        key,
        FollowState {
            state: Some(ACCEPTED.into()),
            activity_id: Some(a.id.to_string()),
            dirty: true,
        },
    );
    let inbox = ctx
        .view
        .persons
        .get(&person)
        .map(|p| p.inbox.clone())
        .unwrap_or_default();
    let accept = relay::accept(&ctx.env.urls, &community, ctx.raw, &person, inbox);
    ctx.view.outbound.push(accept);
    Outcome::done(None)
}

/// A local user's Follow of a remote community (only the publish API applies activities of
/// local actors): pending until the community answers. A new Follow asks again, so it is
/// pending again under its own id whatever the previous state.
fn follow_remote(ctx: &mut Ctx<'_>, a: &Activity, object: &Url) -> Outcome {
    let kind = ctx.resolve(object);
    let person = ctx.person(&a.actor);
    let (Some(kind), Some(person)) = (kind, person) else {
        return ctx.missing();
    };
    if kind != Known::Community {
        return Outcome::ignored(
            Rc::UnsupportedObject,
            format!("{object} is not a community: only communities are followed"),
        );
    }
    let key = (ctx.id(object), person);
    if ctx
        .view
        .follows
        .get(&key)
        .is_some_and(|f| f.state.is_some() && f.activity_id.as_deref() == Some(a.id.as_str()))
    {
        return Outcome::unchanged();
    }
    ctx.view.follows.insert(
        key,
        FollowState {
            state: Some(PENDING.into()),
            activity_id: Some(a.id.to_string()),
            dirty: true,
        },
    );
    Outcome::done(None)
}

pub(super) fn unfollow(ctx: &mut Ctx<'_>, a: &Activity, object: &Url, via: &Via) -> Outcome {
    if let Some(s) = carried(Act::Follow, via) {
        return s;
    }
    let community = ctx.id(object);
    let person = ctx.id(&a.actor);
    let key = (community.clone(), person.clone());
    match ctx.view.follows.get_mut(&key) {
        Some(f) if f.state.is_some() => {
            f.state = None;
            f.dirty = true;
            Outcome::done(None)
        }
        _ => {
            ctx.view.remember(
                follow_key(&person, &community),
                ctx.journal_id,
                a.id.as_str(),
            );
            Outcome::ignored(
                Rc::NothingToUndo,
                format!("{person} does not follow {community}; the Undo is remembered"),
            )
        }
    }
}

/// A community's answer to a follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    Accept,
    Reject,
}

/// Accept or Reject of one of our follows.
pub(super) fn answer(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    f: &ActivityRef,
    answer: Answer,
    via: &Via,
) -> Outcome {
    if let Some(s) = carried(Act::AnswerFollow, via) {
        return s;
    }
    let key = match f {
        ActivityRef::Embedded(i) => match &i.verb {
            Verb::Follow(c) => (ctx.id(c), ctx.id(&i.actor)),
            _ => {
                return Outcome::ignored(
                    Rc::UnsupportedActivity,
                    format!("{} of a {} is not acted on", a.kind, i.kind),
                );
            }
        },
        ActivityRef::Id(u) => {
            let found = ctx
                .view
                .follows
                .iter()
                .find(|(_, s)| s.activity_id.as_deref() == Some(u.as_str()))
                .map(|(k, _)| k.clone());
            match found {
                Some(k) => k,
                None => {
                    return Outcome::ignored(
                        Rc::UnknownObject,
                        format!("no follow {u} known here"),
                    );
                }
            }
        }
    };
    if let Err(d) = authority::answer_follow(a.actor.as_str(), &key.0) {
        return refused(d);
    }
    let Some(f) = ctx.view.follows.get_mut(&key).filter(|f| f.state.is_some()) else {
        return Outcome::ignored(
            Rc::UnknownObject,
            format!("{} has no follow of {} here", key.1, key.0),
        );
    };
    if answer == Answer::Accept {
        if f.state.as_deref() == Some(ACCEPTED) {
            return Outcome::unchanged();
        }
        f.state = Some(ACCEPTED.into());
    } else {
        f.state = None;
    }
    f.dirty = true;
    Outcome::done(None)
}
