//! Like / Dislike / EmojiReact / Undo: one vote per person and object, counts kept in step.

use super::{Via, relay_for};
use crate::ctx::{Ctx, Known};
use crate::memory::vote_key;
use crate::outcome::Outcome;
use crate::rules::{banned, check_via};
use sluice_apub::Rc;
use sluice_apub::vocab::Activity;
use url::Url;

pub(super) fn vote(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    object: &Url,
    score: i16,
    via: &Via,
) -> Outcome {
    let actor = ctx.person(&a.actor);
    let target = ctx.content(object);
    let (Some(actor), Some((id, kind))) = (actor, target) else {
        return ctx.missing();
    };
    let gone = match kind {
        Known::Post => ctx
            .view
            .posts
            .get(&id)
            .is_some_and(|p| p.deleted || p.removed),
        _ => ctx
            .view
            .comments
            .get(&id)
            .is_some_and(|c| c.deleted || c.removed),
    };
    if gone {
        return Outcome::ignored(Rc::ObjectDeleted, format!("{id} is deleted"));
    }
    let Some(community) = ctx.community_of(&id) else {
        return Outcome::ignored(Rc::UnknownObject, format!("{id} has no known community"));
    };
    if let Some(s) = check_via(&community, via) {
        return s;
    }
    if banned(ctx, &actor, &community) {
        return Outcome::ignored(
            Rc::ActorBanned,
            format!("{actor} is banned from {community}"),
        );
    }
    if let Some(undo) = ctx.view.memory.get(&vote_key(&actor, &id))
        && *undo > ctx.journal_id
    {
        return Outcome::ignored(Rc::Superseded, "undone by an Undo that arrived first");
    }
    let old = ctx
        .view
        .votes
        .get(&(actor.clone(), id.clone()))
        .map_or(0, |v| v.score);
    if old == score {
        return Outcome::unchanged();
    }
    let on_post = kind == Known::Post;
    ctx.view
        .set_vote(&actor, &id, on_post, score, Some(a.id.to_string()));
    Outcome::done(relay_for(ctx, &community, via))
}

pub(super) fn undo(ctx: &mut Ctx<'_>, a: &Activity, object: &Url, via: &Via) -> Outcome {
    let actor = ctx.id(&a.actor);
    let id = ctx.id(object);
    let key = vote_key(&actor, &id);
    let old = ctx
        .view
        .votes
        .get(&(actor.clone(), id.clone()))
        .map_or(0, |v| v.score);
    let kind = ctx.kind_of(&id);
    if old == 0 || !matches!(kind, Some(Known::Post | Known::Comment)) {
        // The vote may still arrive (out of order): remember the Undo so it loses.
        ctx.view.remember(key, ctx.journal_id, a.id.as_str());
        return Outcome::ignored(
            Rc::NothingToUndo,
            format!("no vote of {actor} on {id} known; the Undo is remembered"),
        );
    }
    let Some(community) = ctx.community_of(&id) else {
        return Outcome::ignored(Rc::UnknownObject, format!("{id} has no known community"));
    };
    if let Some(s) = check_via(&community, via) {
        return s;
    }
    ctx.view
        .set_vote(&actor, &id, kind == Some(Known::Post), 0, None);
    Outcome::done(relay_for(ctx, &community, via))
}
