//! Posts, comments and private messages: Create, Update, Delete (and its Undo), including
//! Lemmy's moderator removal (a Delete with a `summary`, or by someone other than the
//! author).

use super::{Sense, Via, relay_for};
use crate::ctx::{Ctx, Known};
use crate::materialize::{comment_content, post_content};
use crate::memory::delete_key;
use crate::outcome::{Miss, Outcome};
use crate::rules::{banned, carried, check_via, not_permitted, refused};
use crate::view::MessageState;
use chrono::{DateTime, Utc};
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, Content, Object, ObjectRef, Role, host};
use sluice_db::ingest::changes::ModAction;
use sluice_trust::authority::{self, Act, Deletion};
use std::cmp::Ordering;
use url::Url;

/// Versions compare at the database's precision (microseconds); without both, the incoming
/// one counts as newer.
fn newer(incoming: Option<DateTime<Utc>>, stored: Option<DateTime<Utc>>) -> Ordering {
    match (incoming, stored) {
        (Some(i), Some(s)) => i.timestamp_micros().cmp(&s.timestamp_micros()),
        _ => Ordering::Greater,
    }
}

/// The step for a stored object that an older or identical version arrives for.
fn version_step(incoming: Option<DateTime<Utc>>, stored: Option<DateTime<Utc>>) -> Option<Outcome> {
    match newer(incoming, stored) {
        Ordering::Less => Some(Outcome::ignored(
            Rc::StaleUpdate,
            "older than the stored version",
        )),
        Ordering::Equal => Some(Outcome::unchanged()),
        Ordering::Greater => None,
    }
}

/// Which of the two verbs that carry a whole object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    Create,
    Update,
}

pub(super) fn create_or_update(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    o: &ObjectRef,
    write: Write,
    via: &Via,
) -> Outcome {
    let is_update = write == Write::Update;
    let obj = match o {
        ObjectRef::Embedded(obj) => (**obj).clone(),
        ObjectRef::Id(u) => {
            if !is_update && ctx.kind_of(u.as_str()).is_some() {
                return Outcome::unchanged();
            }
            match fetched_object(ctx, u) {
                Ok(obj) => obj,
                Err(step) => return step,
            }
        }
    };
    match obj {
        Object::Content(c) => upsert(ctx, a, &c, via),
        Object::Actor(doc) if is_update => super::actors::update(ctx, a, &doc, via),
        Object::Tombstone(t) => Outcome::ignored(Rc::ObjectDeleted, format!("{} is deleted", t.id)),
        other => Outcome::ignored(
            Rc::UnsupportedObject,
            format!("{} of a {} is not stored", a.kind, other.kind_name()),
        ),
    }
}

/// The object an activity names only by id, from the batch's fetches.
pub(super) fn fetched_object(ctx: &mut Ctx<'_>, u: &Url) -> Result<Object, Outcome> {
    match ctx.fetched.get(u.as_str()) {
        None => {
            // Objects named by an activity are fetched for their latest version.
            ctx.view.looked_up.insert(u.to_string());
            Err(Outcome::Need(vec![u.clone()]))
        }
        Some(Err(f)) => Err(Miss::Failed(u.clone(), f.clone()).step()),
        Some(Ok(doc)) => match Object::parse(doc) {
            Ok(o) if host(o.id()) == host(u) => Ok(o),
            Ok(o) => Err(Outcome::failed(
                Rc::HostMismatch,
                format!("{u} answered with {}", o.id()),
            )),
            Err(e) => Err(Outcome::failed(Rc::FetchInvalid, format!("{u}: {e}"))),
        },
    }
}

/// Create or Update of content (also an announced object, with its author as actor).
pub(super) fn upsert(ctx: &mut Ctx<'_>, a: &Activity, c: &Content, via: &Via) -> Outcome {
    match authority::author(&a.actor, &c.id, c.author()) {
        Err(d) if d.rc == Rc::HostMismatch => return Outcome::Failed(d.rc, d.reason),
        Err(d) => return refused(d),
        Ok(()) => {}
    }
    if ctx.remembered_deleted(c.id.as_str()) {
        return Outcome::ignored(Rc::ObjectDeleted, format!("{} was deleted", c.id));
    }
    let role = role_of(ctx, c);
    if role != Role::PrivateMessage
        && let Err(d) = authority::public(c.is_public(), &c.id)
    {
        return refused(d);
    }
    match role {
        Role::Post => post(ctx, a, c, via),
        Role::Comment => comment(ctx, a, c, via),
        Role::PrivateMessage => match carried(Act::WriteMessage, via) {
            Some(s) => s,
            None => message(ctx, a, c),
        },
    }
}

/// What content is here: what it was stored as, else its shape's role (a non-public reply to
/// a private message is one too, whatever its type).
fn role_of(ctx: &Ctx<'_>, c: &Content) -> Role {
    let known = |u: &Url| ctx.kind_of(u.as_str());
    match known(&c.id) {
        Some(Known::Message) => Role::PrivateMessage,
        Some(Known::Post) => Role::Post,
        Some(Known::Comment) => Role::Comment,
        _ if !c.is_public() && c.in_reply_to.as_ref().and_then(known) == Some(Known::Message) => {
            Role::PrivateMessage
        }
        _ => c.role(),
    }
}

fn post(ctx: &mut Ctx<'_>, a: &Activity, c: &Content, via: &Via) -> Outcome {
    let id = c.id.to_string();
    if let Some(p) = ctx.view.posts.get(&id) {
        if let Err(d) = authority::creator(a.actor.as_str(), &p.creator, &id) {
            return refused(d);
        }
        if p.deleted {
            return Outcome::ignored(Rc::ObjectDeleted, format!("{id} is deleted"));
        }
        if let Some(s) = version_step(c.version(), p.updated.or(p.published)) {
            return s;
        }
        let community = p.community.clone();
        if let Some(s) = check_via(&community, via) {
            return s;
        }
        if let Some(p) = ctx.view.posts.get_mut(&id) {
            p.content = Some(post_content(c));
            p.updated = c.updated.or(p.updated);
        }
        return Outcome::done(relay_for(ctx, &community, via));
    }
    let Some((community, creator)) = ctx.post_parents(c, via) else {
        return ctx.missing();
    };
    if let Some(s) = check_via(&community, via) {
        return s;
    }
    if let Some(s) = community_open(ctx, &community, &creator) {
        return s;
    }
    if ctx
        .view
        .communities
        .get(&community)
        .is_some_and(|k| k.local && k.posting_restricted_to_mods)
        && ctx.may_moderate(&creator, &community) != Some(true)
    {
        return not_permitted(&creator, &format!("post in {community}"));
    }
    ctx.add_post(c, community.clone(), creator);
    Outcome::done(relay_for(ctx, &community, via))
}

/// Refuses new content in a deleted community, or by a banned or deleted author.
fn community_open(ctx: &Ctx<'_>, community: &str, creator: &str) -> Option<Outcome> {
    if ctx.view.persons.get(creator).is_some_and(|p| p.deleted) {
        return Some(not_permitted(creator, "post: the account is deleted"));
    }
    if ctx
        .view
        .communities
        .get(community)
        .is_some_and(|k| k.deleted || k.removed)
    {
        return Some(Outcome::ignored(
            Rc::ObjectDeleted,
            format!("{community} is deleted"),
        ));
    }
    if banned(ctx, creator, community) {
        return Some(Outcome::ignored(
            Rc::ActorBanned,
            format!("{creator} is banned from {community}"),
        ));
    }
    None
}

fn comment(ctx: &mut Ctx<'_>, a: &Activity, c: &Content, via: &Via) -> Outcome {
    let id = c.id.to_string();
    if let Some(k) = ctx.view.comments.get(&id) {
        if let Err(d) = authority::creator(a.actor.as_str(), &k.creator, &id) {
            return refused(d);
        }
        if k.deleted {
            return Outcome::ignored(Rc::ObjectDeleted, format!("{id} is deleted"));
        }
        if let Some(s) = version_step(c.version(), k.updated.or(k.published)) {
            return s;
        }
        let Some(community) = ctx.community_of(&id) else {
            return Outcome::ignored(Rc::UnknownObject, format!("{id} has no known post"));
        };
        if let Some(s) = check_via(&community, via) {
            return s;
        }
        if let Some(k) = ctx.view.comments.get_mut(&id) {
            k.content = Some(comment_content(c));
            k.updated = c.updated.or(k.updated);
        }
        return Outcome::done(relay_for(ctx, &community, via));
    }
    let Some((post, parent, creator)) = ctx.comment_parents(c) else {
        return ctx.missing();
    };
    let Some(p) = ctx.view.posts.get(&post) else {
        return Outcome::ignored(Rc::UnknownObject, format!("{post} is not known"));
    };
    if p.deleted || p.removed {
        return Outcome::ignored(Rc::ObjectDeleted, format!("{post} is deleted"));
    }
    if p.locked {
        return Outcome::ignored(Rc::PostLocked, format!("{post} is locked"));
    }
    let community = p.community.clone();
    if let Some(s) = check_via(&community, via) {
        return s;
    }
    if let Some(s) = community_open(ctx, &community, &creator) {
        return s;
    }
    ctx.add_comment(c, post, parent, creator);
    Outcome::done(relay_for(ctx, &community, via))
}

fn message(ctx: &mut Ctx<'_>, a: &Activity, c: &Content) -> Outcome {
    let id = c.id.to_string();
    if let Some(m) = ctx.view.messages.get(&id) {
        if let Err(d) = authority::creator(a.actor.as_str(), &m.creator, &id) {
            return refused(d);
        }
        if m.deleted {
            return Outcome::ignored(Rc::ObjectDeleted, format!("{id} is deleted"));
        }
        if let Some(s) = version_step(c.version(), m.updated.or(m.published)) {
            return s;
        }
        if let Some(m) = ctx.view.messages.get_mut(&id) {
            m.content = Some((c.content.clone().unwrap_or_default(), c.source.clone()));
            m.updated = c.updated.or(m.updated);
        }
        return Outcome::done(None);
    }
    let recipient =
        c.to.iter()
            .chain(&a.to)
            .map(|u| ctx.id(u))
            .find(|u| ctx.view.persons.get(u).is_some_and(|p| p.local));
    let Some(recipient) = recipient else {
        return Outcome::ignored(Rc::NotForUs, format!("{id} is addressed to no local user"));
    };
    let Some(creator) = ctx.person(&a.actor) else {
        return ctx.missing();
    };
    ctx.view.messages.insert(
        id,
        MessageState {
            creator,
            recipient,
            deleted: false,
            published: c.published,
            updated: c.updated,
            content: Some((c.content.clone().unwrap_or_default(), c.source.clone())),
            flags_dirty: false,
        },
    );
    Outcome::done(None)
}

fn is_removal(a: &Activity, creator: &str) -> bool {
    authority::deletion(a.actor.as_str(), creator, a.summary.is_some()) == Deletion::Removal
}

pub(super) fn delete(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    object: &Url,
    remove_data: bool,
    via: &Via,
) -> Outcome {
    let id = ctx.id(object);
    let actor = a.actor.to_string();
    if id == actor {
        return delete_actor(ctx, &id, remove_data, via);
    }
    match ctx.kind_of(&id) {
        Some(k @ (Known::Post | Known::Comment)) => {
            set_content_state(ctx, a, &a.id, &id, k, Sense::Do, via)
        }
        Some(Known::Message) => {
            if let Some(s) = carried(Act::WriteMessage, via) {
                return s;
            }
            let Some(m) = ctx.view.messages.get_mut(&id) else {
                return Outcome::unchanged();
            };
            if let Err(d) = authority::creator(&actor, &m.creator, &id) {
                return refused(d);
            }
            if m.deleted {
                return Outcome::unchanged();
            }
            m.deleted = true;
            m.flags_dirty = true;
            Outcome::done(None)
        }
        Some(Known::Community) => set_community_state(ctx, a, &id, Sense::Do, via),
        Some(Known::Person) => not_permitted(&actor, &format!("delete the account {id}")),
        None if authority::remember_delete(&a.actor, object) => {
            // Remembered: a late Create of it, or a vote on it, will not bring it back.
            ctx.view
                .remember(delete_key(&id), ctx.journal_id, a.id.as_str());
            Outcome::ignored(
                Rc::UnknownObject,
                format!("{id} is not known here; its deletion is remembered"),
            )
        }
        None => Outcome::ignored(
            Rc::UnknownObject,
            format!("{id} is not known here; a Delete from another host is not remembered"),
        ),
    }
}

/// An actor deleting itself (Lemmy's account deletion; a community deleting itself).
fn delete_actor(ctx: &mut Ctx<'_>, id: &str, remove_data: bool, via: &Via) -> Outcome {
    let local = ctx.view.persons.get(id).map(|p| p.local);
    let local = local.or_else(|| ctx.view.communities.get(id).map(|c| c.local));
    if let Err(d) = authority::local_unchanged(local == Some(true), id, id) {
        return refused(d);
    }
    let is_person = ctx.view.persons.contains_key(id);
    let refusal = if is_person {
        carried(Act::DeletePerson, via)
    } else {
        check_via(id, via)
    };
    if let Some(s) = refusal {
        return s;
    }
    if let Some(p) = ctx.view.persons.get_mut(id) {
        if p.deleted && !remove_data {
            return Outcome::unchanged();
        }
        p.deleted = true;
        p.flags_dirty = true;
        if remove_data {
            ctx.view
                .sweeps
                .push(sluice_db::ingest::changes::ContentSweep {
                    person: id.to_string(),
                    community: None,
                    removed: false,
                });
        }
        return Outcome::done(None);
    }
    if let Some(c) = ctx.view.communities.get_mut(id) {
        if c.deleted {
            return Outcome::unchanged();
        }
        c.deleted = true;
        c.flags_dirty = true;
        return Outcome::done(None);
    }
    Outcome::ignored(Rc::UnknownObject, format!("{id} is not known here"))
}

pub(super) fn undelete(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    inner: &Activity,
    object: &Url,
    via: &Via,
) -> Outcome {
    let id = ctx.id(object);
    match ctx.kind_of(&id) {
        Some(k @ (Known::Post | Known::Comment)) => {
            let step = set_content_state(ctx, inner, &a.id, &id, k, Sense::Undo, via);
            if matches!(step, Outcome::Done { .. }) {
                ctx.view.forget(&delete_key(&id));
            }
            step
        }
        Some(Known::Message) => {
            if let Some(s) = carried(Act::WriteMessage, via) {
                return s;
            }
            let Some(m) = ctx.view.messages.get_mut(&id) else {
                return Outcome::unchanged();
            };
            if let Err(d) = authority::creator(a.actor.as_str(), &m.creator, &id) {
                return refused(d);
            }
            if !m.deleted {
                return Outcome::unchanged();
            }
            m.deleted = false;
            m.flags_dirty = true;
            Outcome::done(None)
        }
        Some(Known::Community) => set_community_state(ctx, inner, &id, Sense::Undo, via),
        Some(Known::Person) => Outcome::ignored(
            Rc::UnsupportedActivity,
            "restoring a deleted account is not acted on",
        ),
        None => {
            // Only whoever may have had it remembered may make it forgotten.
            if authority::remember_delete(&a.actor, object) {
                ctx.view.forget(&delete_key(&id));
            }
            Outcome::ignored(Rc::NothingToUndo, format!("{id} is not known here"))
        }
    }
}

/// Deletes / removes (`on`) or restores a post or comment. `a` is the Delete (for an
/// Undo, the undone one: it says whether this was a removal); `log_id` names the entry in
/// the moderation log.
fn set_content_state(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    log_id: &Url,
    id: &str,
    kind: Known,
    sense: Sense,
    via: &Via,
) -> Outcome {
    let on = sense == Sense::Do;
    let actor = a.actor.to_string();
    let (creator, community) = match kind {
        Known::Post => match ctx.view.posts.get(id) {
            Some(p) => (p.creator.clone(), Some(p.community.clone())),
            None => return Outcome::unchanged(),
        },
        _ => match ctx.view.comments.get(id) {
            Some(c) => (c.creator.clone(), ctx.community_of(id)),
            None => return Outcome::unchanged(),
        },
    };
    let Some(community) = community else {
        return Outcome::ignored(Rc::UnknownObject, format!("{id} has no known community"));
    };
    if let Some(s) = check_via(&community, via) {
        return s;
    }
    let removal = is_removal(a, &creator);
    if removal {
        match ctx.may_moderate(&actor, &community) {
            None => return ctx.missing(),
            Some(false) => return not_permitted(&actor, &format!("moderate {community}")),
            Some(true) => {}
        }
    }
    let (deleted, removed, flags_dirty) = match kind {
        Known::Post => match ctx.view.posts.get_mut(id) {
            Some(p) => (&mut p.deleted, &mut p.removed, &mut p.flags_dirty),
            None => return Outcome::unchanged(),
        },
        _ => match ctx.view.comments.get_mut(id) {
            Some(c) => (&mut c.deleted, &mut c.removed, &mut c.flags_dirty),
            None => return Outcome::unchanged(),
        },
    };
    let flag = if removal { removed } else { deleted };
    if *flag == on {
        return Outcome::unchanged();
    }
    *flag = on;
    *flags_dirty = true;
    if removal {
        let what = if kind == Known::Post {
            "post"
        } else {
            "comment"
        };
        let verb = if on { "remove" } else { "restore" };
        ctx.view.mod_actions.push(ModAction {
            activity_id: log_id.to_string(),
            kind: format!("{verb}_{what}"),
            moderator: Some(actor),
            community: Some(community.clone()),
            target: id.to_string(),
            reason: a.summary.clone().filter(|s| !s.is_empty()),
        });
    }
    Outcome::done(relay_for(ctx, &community, via))
}

/// Deletes or restores a community (by itself or a moderator).
fn set_community_state(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    id: &str,
    sense: Sense,
    via: &Via,
) -> Outcome {
    let on = sense == Sense::Do;
    let actor = a.actor.to_string();
    let local = ctx.view.communities.get(id).is_some_and(|c| c.local);
    if let Err(d) = authority::local_unchanged(local, &actor, id) {
        return refused(d);
    }
    if let Some(s) = check_via(id, via) {
        return s;
    }
    match ctx.may_moderate(&actor, id) {
        None => return ctx.missing(),
        Some(false) => return not_permitted(&actor, &format!("delete {id}")),
        Some(true) => {}
    }
    let Some(c) = ctx.view.communities.get_mut(id) else {
        return Outcome::unchanged();
    };
    let removal = a.summary.is_some() && actor != id;
    let flag = if removal {
        &mut c.removed
    } else {
        &mut c.deleted
    };
    if *flag == on {
        return Outcome::unchanged();
    }
    *flag = on;
    c.flags_dirty = true;
    Outcome::done(None)
}
