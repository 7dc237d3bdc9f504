//! Moderation: bans (Block), locks, reports (Flag, Resolve), moderators and featured posts
//! (Add / Remove to a community's collections).
//!
//! Who may moderate is decided in one place (`authority::moderates`, through
//! `Ctx::may_moderate`).

use super::{Sense, Via, relay_for};
use crate::ctx::{Ctx, Known};
use crate::memory::ban_key;
use crate::outcome::Outcome;
use crate::rules::{carried, check_via, names_instance, not_permitted, refused};
use crate::view::{BanState, ReportState};
use chrono::{DateTime, Utc};
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, ActivityRef};
use sluice_db::ingest::changes::{ContentSweep, ModAction, NewReport};
use sluice_trust::authority::{self, Act};
use url::Url;

fn log(ctx: &mut Ctx<'_>, a: &Activity, kind: &str, community: Option<&str>, target: &str) {
    ctx.view.mod_actions.push(ModAction {
        activity_id: a.id.to_string(),
        kind: kind.to_string(),
        moderator: Some(a.actor.to_string()),
        community: community.map(str::to_string),
        target: target.to_string(),
        reason: a.summary.clone().filter(|s| !s.is_empty()),
    });
}

/// Where a ban applies: a community, or the banned person's whole instance.
enum Scope {
    Community(String),
    Site,
}

/// The scope a Block's target names. Lemmy names the instance actor (`https://host/`) for
/// instance bans; a Block without a target is a user blocking a user, not a ban.
fn scope(ctx: &mut Ctx<'_>, target: Option<&Url>) -> Result<Option<Scope>, Outcome> {
    let Some(t) = target else {
        return Err(Outcome::ignored(
            Rc::UnsupportedActivity,
            "a Block without a target is a user block, not a ban",
        ));
    };
    if names_instance(t) {
        return Ok(Some(Scope::Site));
    }
    Ok(match ctx.resolve(t) {
        Some(Known::Community) => Some(Scope::Community(ctx.id(t))),
        Some(_) => Some(Scope::Site),
        None => None,
    })
}

pub(super) fn block(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    object: &Url,
    target: Option<&Url>,
    expires: Option<DateTime<Utc>>,
    remove_data: bool,
    via: &Via,
) -> Outcome {
    let scope = match scope(ctx, target) {
        Ok(s) => s,
        Err(step) => return step,
    };
    let person = ctx.person(object);
    let (Some(person), Some(scope)) = (person, scope) else {
        return ctx.missing();
    };
    let actor = a.actor.to_string();
    let community = match &scope {
        Scope::Community(c) => {
            if let Some(s) = check_via(c, via) {
                return s;
            }
            match ctx.may_moderate(&actor, c) {
                None => return ctx.missing(),
                Some(false) => return not_permitted(&actor, &format!("ban in {c}")),
                Some(true) => Some(c.clone()),
            }
        }
        Scope::Site => {
            if let Some(s) = carried(Act::SiteBan, via) {
                return s;
            }
            if let Err(d) = authority::site_ban(&a.actor, object) {
                return refused(d);
            }
            None
        }
    };
    if let Some(undo) = ctx.view.memory.get(&ban_key(&person, community.as_deref()))
        && *undo > ctx.journal_id
    {
        return Outcome::ignored(Rc::Superseded, "undone by an Undo that arrived first");
    }
    let key = (person.clone(), community.clone());
    if ctx
        .view
        .bans
        .get(&key)
        .is_some_and(|b| b.present && b.expires == expires)
        && !remove_data
    {
        return Outcome::unchanged();
    }
    ctx.view.bans.insert(
        key,
        BanState {
            present: true,
            expires,
            moderator: Some(actor),
            reason: a.summary.clone(),
            activity_id: Some(a.id.to_string()),
            dirty: true,
        },
    );
    if community.is_none()
        && let Some(p) = ctx.view.persons.get_mut(&person)
    {
        p.banned = true;
        p.flags_dirty = true;
    }
    if remove_data {
        ctx.view.sweeps.push(ContentSweep {
            person: person.clone(),
            community: community.clone(),
            removed: true,
        });
    }
    log(ctx, a, "ban", community.as_deref(), &person);
    match community {
        Some(c) => Outcome::done(relay_for(ctx, &c, via)),
        None => Outcome::done(None),
    }
}

pub(super) fn unblock(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    object: &Url,
    target: Option<&Url>,
    via: &Via,
) -> Outcome {
    let person = ctx.id(object);
    let community = match target {
        Some(t) if !names_instance(t) => {
            let id = ctx.id(t);
            ctx.view.communities.contains_key(&id).then_some(id)
        }
        _ => None,
    };
    let actor = a.actor.to_string();
    match &community {
        Some(c) => {
            if let Some(s) = check_via(c, via) {
                return s;
            }
            match ctx.may_moderate(&actor, c) {
                None => return ctx.missing(),
                Some(false) => return not_permitted(&actor, &format!("unban in {c}")),
                Some(true) => {}
            }
        }
        None => {
            if let Some(s) = carried(Act::SiteBan, via) {
                return s;
            }
            if let Err(d) = authority::site_ban(&a.actor, object) {
                return refused(d);
            }
        }
    }
    let key = (person.clone(), community.clone());
    let Some(b) = ctx.view.bans.get_mut(&key).filter(|b| b.present) else {
        ctx.view.remember(
            ban_key(&person, community.as_deref()),
            ctx.journal_id,
            a.id.as_str(),
        );
        return Outcome::ignored(
            Rc::NothingToUndo,
            format!("no ban of {person} known; the Undo is remembered"),
        );
    };
    b.present = false;
    b.dirty = true;
    if community.is_none()
        && let Some(p) = ctx.view.persons.get_mut(&person)
    {
        p.banned = false;
        p.flags_dirty = true;
    }
    log(ctx, a, "unban", community.as_deref(), &person);
    match community {
        Some(c) => Outcome::done(relay_for(ctx, &c, via)),
        None => Outcome::done(None),
    }
}

/// Lock (`Do`) or unlock (`Undo`) a post or comment.
pub(super) fn lock(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    object: &Url,
    sense: Sense,
    via: &Via,
) -> Outcome {
    let on = sense == Sense::Do;
    let id = ctx.id(object);
    let kind = match ctx.kind_of(&id) {
        Some(k @ (Known::Post | Known::Comment)) => k,
        _ => return Outcome::ignored(Rc::UnknownObject, format!("{id} is not known here")),
    };
    let Some(community) = ctx.community_of(&id) else {
        return Outcome::ignored(Rc::UnknownObject, format!("{id} has no known community"));
    };
    if let Some(s) = check_via(&community, via) {
        return s;
    }
    let actor = a.actor.to_string();
    match ctx.may_moderate(&actor, &community) {
        None => return ctx.missing(),
        Some(false) => return not_permitted(&actor, &format!("lock in {community}")),
        Some(true) => {}
    }
    let (locked, dirty) = match kind {
        Known::Post => match ctx.view.posts.get_mut(&id) {
            Some(p) => (&mut p.locked, &mut p.flags_dirty),
            None => return Outcome::unchanged(),
        },
        _ => match ctx.view.comments.get_mut(&id) {
            Some(c) => (&mut c.locked, &mut c.flags_dirty),
            None => return Outcome::unchanged(),
        },
    };
    if *locked == on {
        return Outcome::unchanged();
    }
    *locked = on;
    *dirty = true;
    let what = if kind == Known::Post {
        "post"
    } else {
        "comment"
    };
    let verb = if on { "lock" } else { "unlock" };
    log(ctx, a, &format!("{verb}_{what}"), Some(&community), &id);
    Outcome::done(relay_for(ctx, &community, via))
}

pub(super) fn flag(ctx: &mut Ctx<'_>, a: &Activity, objects: &[Url], via: &Via) -> Outcome {
    if let Some(s) = carried(Act::Flag, via) {
        return s;
    }
    let id = a.id.to_string();
    if ctx.view.reports.contains_key(&id) {
        return Outcome::unchanged();
    }
    let Some(creator) = ctx.person(&a.actor) else {
        return ctx.missing();
    };
    // Mastodon names the account and the statuses; the content is what is reported.
    let object = objects
        .iter()
        .map(|u| ctx.id(u))
        .find(|u| matches!(ctx.kind_of(u), Some(Known::Post | Known::Comment)));
    let community = match &object {
        Some(o) => ctx.community_of(o),
        None => {
            a.to.iter()
                .chain(&a.audience)
                .map(|u| ctx.id(u))
                .find(|u| ctx.view.communities.contains_key(u))
        }
    };
    let Some(community) = community else {
        return Outcome::ignored(Rc::UnknownObject, "the reported content is not known here");
    };
    let object = object.unwrap_or_else(|| objects.last().map(Url::to_string).unwrap_or_default());
    ctx.view.reports.insert(
        id.clone(),
        ReportState {
            community: Some(community.clone()),
            resolved: false,
            new: Some(NewReport {
                ap_id: id,
                creator,
                community: Some(community),
                object,
                reason: a.reason(),
                resolved: false,
            }),
        },
    );
    Outcome::done(None)
}

pub(super) fn resolve(ctx: &mut Ctx<'_>, a: &Activity, r: &ActivityRef, via: &Via) -> Outcome {
    let id = r.id().to_string();
    let Some(community) = ctx.view.reports.get(&id).map(|r| r.community.clone()) else {
        return Outcome::ignored(Rc::UnknownObject, format!("no report {id} known here"));
    };
    if let Some(s) = community.as_deref().and_then(|c| check_via(c, via)) {
        return s;
    }
    let actor = a.actor.to_string();
    let allowed = match &community {
        Some(c) => ctx.may_moderate(&actor, c),
        None => Some(false),
    };
    match allowed {
        None => return ctx.missing(),
        Some(false) => return not_permitted(&actor, "resolve this report"),
        Some(true) => {}
    }
    let Some(rep) = ctx.view.reports.get_mut(&id) else {
        return Outcome::unchanged();
    };
    if rep.resolved {
        return Outcome::unchanged();
    }
    rep.resolved = true;
    if rep.new.is_none() {
        ctx.view.resolved_reports.push(id);
    }
    Outcome::done(None)
}

/// Which of a community's collections a target names.
#[derive(PartialEq)]
enum Collection {
    Moderators,
    Featured,
}

/// The community owning `target`, and which collection it is.
fn collection_of(ctx: &Ctx<'_>, a: &Activity, target: &Url) -> Option<(String, Collection)> {
    let t = target.as_str();
    for (id, c) in &ctx.view.communities {
        if c.moderators_url.as_deref() == Some(t) {
            return Some((id.clone(), Collection::Moderators));
        }
        if c.featured_url.as_deref() == Some(t) {
            return Some((id.clone(), Collection::Featured));
        }
    }
    // Lemmy's layout: `<community>/moderators`, `<community>/featured`.
    let which = if t.ends_with("/moderators") {
        Collection::Moderators
    } else if t.ends_with("/featured") {
        Collection::Featured
    } else {
        return None;
    };
    let parent = t.rsplit_once('/').map(|(p, _)| p.to_string())?;
    let candidates = std::iter::once(parent)
        .chain(a.audience.iter().map(Url::to_string))
        .chain(a.cc.iter().chain(&a.to).map(Url::to_string));
    for c in candidates {
        if ctx.view.communities.contains_key(&c) {
            return Some((c, which));
        }
    }
    None
}

/// Which way a collection changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Add,
    Remove,
}

/// Add or Remove to a moderators or featured collection.
pub(super) fn collection(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    object: &Url,
    target: Option<&Url>,
    change: Change,
    via: &Via,
) -> Outcome {
    let add = change == Change::Add;
    let Some(target) = target else {
        return Outcome::ignored(
            Rc::UnsupportedObject,
            format!("{} without a target", a.kind),
        );
    };
    let Some((community, which)) = collection_of(ctx, a, target) else {
        return Outcome::ignored(
            Rc::NotForUs,
            format!("{target} is no collection of a community known here"),
        );
    };
    if let Some(s) = check_via(&community, via) {
        return s;
    }
    let actor = a.actor.to_string();
    if which == Collection::Featured {
        let id = ctx.id(object);
        match ctx.view.posts.get(&id) {
            None => return Outcome::ignored(Rc::UnknownObject, format!("{id} is not known here")),
            Some(p) if p.community != community => {
                return Outcome::ignored(
                    Rc::CommunityMismatch,
                    format!("{id} is not in {community}"),
                );
            }
            Some(_) => {}
        }
        match ctx.may_moderate(&actor, &community) {
            None => return ctx.missing(),
            Some(false) => return not_permitted(&actor, &format!("feature in {community}")),
            Some(true) => {}
        }
        let Some(p) = ctx.view.posts.get_mut(&id) else {
            return Outcome::unchanged();
        };
        if p.featured == add {
            return Outcome::unchanged();
        }
        p.featured = add;
        p.flags_dirty = true;
        let kind = if add {
            "feature_post"
        } else {
            "unfeature_post"
        };
        log(ctx, a, kind, Some(&community), &id);
        return Outcome::done(relay_for(ctx, &community, via));
    }
    let person = ctx.person(object);
    let allowed = ctx.may_moderate(&actor, &community);
    let (Some(person), Some(allowed)) = (person, allowed) else {
        return ctx.missing();
    };
    if !allowed {
        return not_permitted(&actor, &format!("change the moderators of {community}"));
    }
    let Some(c) = ctx.view.communities.get_mut(&community) else {
        return Outcome::unchanged();
    };
    let changed = if add {
        c.moderators.insert(person.clone())
    } else {
        c.moderators.remove(&person)
    };
    if !changed {
        return Outcome::unchanged();
    }
    ctx.view
        .moderator_changes
        .insert((community.clone(), person.clone()), add);
    let kind = if add { "add_mod" } else { "remove_mod" };
    log(ctx, a, kind, Some(&community), &person);
    Outcome::done(relay_for(ctx, &community, via))
}
