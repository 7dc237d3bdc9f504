//! Announce from a remote community: unwrap, verify, apply the inner activity as relayed by
//! that community.
//!
//! Verification follows Lemmy: an embedded inner activity is trusted when its id is on its
//! actor's host (the community vouches for the rest, as it does for Lemmy); otherwise it is
//! fetched by id from its origin and used only if the origin serves the same activity.
//! What a community vouches for at all is the authority table's (`authority::carried`,
//! checked by `apply` for every activity relayed): its own community's content, votes and
//! moderation, never account-level verbs, follows, reports or our own actors.

use super::content::{fetched_object, upsert};
use super::{Via, apply};
use crate::ctx::{Ctx, Known};
use crate::outcome::{Miss, Outcome};
use crate::rules::{gate, refused};
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, AnnounceObject, Object, Verb, host, is_activity_type};
use sluice_trust::authority::{self, Act};
use url::Url;

pub(super) fn announce(
    ctx: &mut Ctx<'_>,
    a: &Activity,
    inner: &AnnounceObject,
    via: &Via,
) -> Outcome {
    if *via != Via::Direct {
        return Outcome::ignored(Rc::UnsupportedActivity, "an Announce inside an Announce");
    }
    match ctx.resolve(&a.actor) {
        Some(Known::Community) => {}
        Some(_) => {
            return Outcome::ignored(
                Rc::UnsupportedActivity,
                "an Announce by a user (a boost) is not acted on",
            );
        }
        None => return ctx.missing(),
    }
    let community = ctx.id(&a.actor);
    // Lemmy's rule, checked before anything is fetched for the inner activity.
    if !ctx.kept(&community) {
        return Outcome::ignored(
            Rc::NoLocalFollower,
            format!("no local user follows {community}"),
        );
    }
    let via = Via::Announced(community);
    // Judged by its embedded shape before anything is fetched for it (the origin's copy
    // must be the same activity, and is judged again).
    if let AnnounceObject::Activity(i) = inner
        && let Some(s) = gate(ctx, i, &via)
    {
        return s;
    }
    match inner {
        AnnounceObject::Activity(i) if host(&i.id) == host(&i.actor) => apply(ctx, i, &via),
        AnnounceObject::Activity(i) => match fetched_activity(ctx, &i.id) {
            Ok(f) => apply(ctx, &f, &via),
            Err(s) => s,
        },
        AnnounceObject::Object(o) => announced_object(ctx, o, &via),
        AnnounceObject::Id(u) => {
            let doc = match ctx.fetched.get(u.as_str()) {
                None => {
                    ctx.view.looked_up.insert(u.to_string());
                    return Outcome::Need(vec![u.clone()]);
                }
                Some(Err(f)) => return Miss::Failed(u.clone(), f.clone()).step(),
                Some(Ok(doc)) => doc,
            };
            let kind = doc.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            if is_activity_type(kind) {
                match fetched_activity(ctx, u) {
                    Ok(f) => apply(ctx, &f, &via),
                    Err(s) => s,
                }
            } else {
                match fetched_object(ctx, u) {
                    Ok(o) => announced_object(ctx, &o, &via),
                    Err(s) => s,
                }
            }
        }
    }
}

/// The inner activity as its origin serves it.
fn fetched_activity(ctx: &mut Ctx<'_>, id: &Url) -> Result<Activity, Outcome> {
    match ctx.fetched.get(id.as_str()) {
        None => {
            ctx.view.looked_up.insert(id.to_string());
            Err(Outcome::Need(vec![id.clone()]))
        }
        Some(Err(f)) => Err(Miss::Failed(id.clone(), f.clone()).step()),
        Some(Ok(doc)) => match Activity::parse(doc) {
            Ok(f) if f.id == *id && host(&f.actor) == host(id) => Ok(f),
            Ok(f) => Err(Outcome::failed(
                Rc::HostMismatch,
                format!("{id} is served as {} by {}", f.id, f.actor),
            )),
            Err(e) => Err(Outcome::failed(Rc::MalformedActivity, format!("{id}: {e}"))),
        },
    }
}

/// A community boosting a post or comment (Lemmy does this for Mastodon's sake): stored as
/// its author's Create/Update.
fn announced_object(ctx: &mut Ctx<'_>, o: &Object, via: &Via) -> Outcome {
    let Object::Content(c) = o else {
        return Outcome::ignored(
            Rc::UnsupportedObject,
            format!("an Announce of a {} is not acted on", o.kind_name()),
        );
    };
    let Some(author) = c.author().cloned() else {
        return Outcome::failed(Rc::MalformedActivity, "content without an author");
    };
    let local = ctx.env.urls.is_local(&author);
    if let Err(d) = authority::carried(Act::WriteContent, via, local) {
        return refused(d);
    }
    let as_author = Activity {
        id: c.id.clone(),
        kind: "Announce".into(),
        actor: author,
        to: c.to.clone(),
        cc: c.cc.clone(),
        audience: c.audience.clone(),
        summary: None,
        content: None,
        published: c.published,
        verb: Verb::Other,
    };
    upsert(ctx, &as_author, c, via)
}
