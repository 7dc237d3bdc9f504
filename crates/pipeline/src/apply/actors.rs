//! Update of a Person or Group: profile and key rotation.

use super::not_permitted;
use crate::ctx::Ctx;
use crate::outcome::Step;
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, ActorDoc, ActorKind, host};
use std::cmp::Ordering;

pub(super) fn update(ctx: &mut Ctx<'_>, a: &Activity, doc: &ActorDoc) -> Step {
    let id = doc.id.to_string();
    let by_itself = a.actor == doc.id;
    let mut doc = doc.clone();
    let stored = if doc.kind == ActorKind::Group {
        match ctx.view.communities.get(&id) {
            Some(c) if c.local => {
                return not_permitted(a.actor.as_str(), "update a local community");
            }
            Some(c) => Some(c.updated),
            None => None,
        }
    } else {
        ctx.view.persons.get(&id).map(|p| p.updated)
    };
    if !by_itself {
        if doc.kind != ActorKind::Group {
            return not_permitted(a.actor.as_str(), &format!("update {id}"));
        }
        match ctx.may_moderate(a.actor.as_str(), &id) {
            None => return ctx.missing(),
            Some(false) => return not_permitted(a.actor.as_str(), &format!("update {id}")),
            Some(true) => {}
        }
        // A moderator edits the profile; only the community itself may rotate its key.
        doc.public_key = None;
    } else if host(&doc.id) != host(&a.actor) {
        return Step::failed(Rc::HostMismatch, "actor document of another host");
    }
    if let Some(Some(stored)) = stored
        && let Some(incoming) = doc.updated
        && incoming.timestamp_micros().cmp(&stored.timestamp_micros()) == Ordering::Less
    {
        return Step::ignored(Rc::StaleUpdate, "older than the stored profile");
    }
    if stored.is_none() && !by_itself {
        return Step::ignored(Rc::UnknownObject, format!("{id} is not known here"));
    }
    ctx.add_actor(&doc.id, &doc);
    Step::done(None)
}
