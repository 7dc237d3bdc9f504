//! Update of a Person or Group: profile fields only. Keys are never taken from an activity:
//! they come only from the owner's own actor document, fetched (`Ctx::add_actor`).

use super::Via;
use crate::ctx::Ctx;
use crate::outcome::Outcome;
use crate::rules::{not_permitted, refused};
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, ActorDoc, ActorKind};
use sluice_trust::authority;
use std::cmp::Ordering;

pub(super) fn update(ctx: &mut Ctx<'_>, a: &Activity, doc: &ActorDoc, via: &Via) -> Outcome {
    let id = doc.id.to_string();
    let by_itself = a.actor == doc.id;
    let is_community = doc.kind == ActorKind::Group;
    let known = if is_community {
        ctx.view.communities.get(&id).map(|c| (c.local, c.updated))
    } else {
        ctx.view.persons.get(&id).map(|p| (p.local, p.updated))
    };
    let local = known.is_some_and(|(l, _)| l) || ctx.env.urls.is_local(&doc.id);
    if let Err(d) = authority::profile_update(&a.actor, &doc.id, is_community, local, via) {
        return refused(d);
    }
    if is_community && !by_itself {
        match ctx.may_moderate(a.actor.as_str(), &id) {
            None => return ctx.missing(),
            Some(false) => return not_permitted(a.actor.as_str(), &format!("update {id}")),
            Some(true) => {}
        }
    }
    if let Some((_, Some(stored))) = known
        && let Some(incoming) = doc.updated
        && incoming.timestamp_micros().cmp(&stored.timestamp_micros()) == Ordering::Less
    {
        return Outcome::ignored(Rc::StaleUpdate, "older than the stored profile");
    }
    if known.is_none() && !by_itself {
        return Outcome::ignored(Rc::UnknownObject, format!("{id} is not known here"));
    }
    let mut doc = doc.clone();
    doc.public_key = None;
    ctx.add_actor(&doc.id, &doc);
    Outcome::done(None)
}
