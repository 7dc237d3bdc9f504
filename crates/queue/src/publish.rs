//! The local publish API's logic: check a request, then append it to the outbound log once.
//!
//! The instance's own application hands sluice activities to send. sluice signs them as the
//! named local actor, so it insists that the actor is local with a key, that the activity's
//! id is ours (peers dereference it), and that the activity's `actor` (when present) is the
//! signer (receivers refuse a signature by anyone else).
//!
//! What the activity does here is applied too, by the pipeline's rules for the same
//! activity from a remote actor (`sluice_pipeline::LocalEffects`): a local user's Follow of a
//! remote community is recorded pending (the community's Accept then finds it), a vote
//! counts, a removal is logged. Those changes are written in the transaction that appends
//! the activity, only when it is appended: publishing is idempotent on the activity id (the
//! same activity published twice is logged, delivered and applied once). An activity whose
//! local effect those rules refuse is not published at all (422 `LocalEffectRefused`).

use serde::{Deserialize, Serialize};
use sluice_apub::{LocalUrls, Rc};
use sluice_db::Db;
use sluice_db::outbound::{AppendOnce, Audience, NewOutbound, append_once_applying};
use sluice_pipeline::{Effect, LocalEffects};
pub use sluice_refusal::Refusal;
use sluice_trust::host::InstanceHost;
use url::Url;

/// Most inboxes in one publish.
pub const MAX_INBOXES: usize = 1000;

/// `POST /api/v1/publish` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The local actor that signs (its id).
    pub actor: String,
    /// The activity, as it will be sent.
    pub activity: serde_json::Value,
    /// Deliver to every remote follower of this local community (its id), once per instance.
    #[serde(default)]
    pub to_followers_of: Option<String>,
    /// Or deliver to these inboxes.
    #[serde(default)]
    pub inboxes: Option<Vec<String>>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Outbound id (send order).
    pub id: i64,
    /// The activity id.
    pub activity_id: String,
    /// Instances it goes to (0 for a duplicate: see the first publication).
    pub targets: i64,
    /// It was already in the log; nothing new was queued.
    pub duplicate: bool,
    /// It changed the local tables (false for a duplicate: see the first publication).
    #[serde(default)]
    pub applied: bool,
    /// Why it changed nothing here, when sluice keeps no state for it (a pipeline code:
    /// `UnknownObject`, `NoLocalFollower`, ...); it is sent all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_kept: Option<String>,
}

fn refuse(rc: Rc, message: impl Into<String>) -> Refusal {
    Refusal::new(rc, message)
}

/// Everything that needs no database: ids, actor, audience. Returns what to append.
pub fn check(
    req: PublishRequest,
    urls: &LocalUrls,
    dev_mode: bool,
) -> Result<NewOutbound, Refusal> {
    let local = |s: &str| Url::parse(s).is_ok_and(|u| urls.is_local(&u));
    if !local(&req.actor) {
        return Err(refuse(
            Rc::ActorNotLocal,
            format!("actor {:?} is not an actor of {}", req.actor, urls.domain()),
        ));
    }
    let Some(activity) = req.activity.as_object() else {
        return Err(refuse(Rc::BadRequest, "activity must be a JSON object"));
    };
    let id = activity.get("id").and_then(|v| v.as_str()).unwrap_or("");
    if !local(id) {
        return Err(refuse(
            Rc::ActivityNotLocal,
            format!("activity id {id:?} is not on {}", urls.domain()),
        ));
    }
    if !activity.get("type").is_some_and(|t| t.is_string()) {
        return Err(refuse(Rc::BadRequest, "activity has no type"));
    }
    if let Some(a) = activity.get("actor") {
        let named = a.as_str().or_else(|| a.get("id").and_then(|i| i.as_str()));
        if named != Some(req.actor.as_str()) {
            return Err(refuse(
                Rc::ActorMismatch,
                format!("the activity's actor is not {:?}", req.actor),
            ));
        }
    }
    let audience = match (req.to_followers_of, req.inboxes) {
        (Some(c), None) if local(&c) => Audience::FollowersOf(c),
        (Some(c), None) => {
            return Err(refuse(
                Rc::AudienceInvalid,
                format!(
                    "to_followers_of {c:?} is not a community of {}",
                    urls.domain()
                ),
            ));
        }
        (None, Some(list)) => Audience::Inboxes(check_inboxes(list, urls, dev_mode)?),
        _ => {
            return Err(refuse(
                Rc::AudienceInvalid,
                "give exactly one of to_followers_of and inboxes",
            ));
        }
    };
    Ok(NewOutbound {
        activity_id: id.to_string(),
        actor_ap_id: req.actor,
        object_ap_id: sluice_apub::vocab::innermost_object(&req.activity),
        raw: req.activity,
        audience,
    })
}

fn check_inboxes(
    list: Vec<String>,
    urls: &LocalUrls,
    dev_mode: bool,
) -> Result<Vec<String>, Refusal> {
    if list.is_empty() || list.len() > MAX_INBOXES {
        return Err(refuse(
            Rc::AudienceInvalid,
            format!("inboxes must list 1 to {MAX_INBOXES} URLs"),
        ));
    }
    let ours = InstanceHost::parse(urls.domain()).ok();
    for inbox in &list {
        // Userinfo is refused: targets are grouped per instance by the inbox's host, and
        // `user@host` must not read as an instance called `user`.
        let ok = Url::parse(inbox).is_ok_and(|u| {
            (u.scheme() == "https" || (dev_mode && u.scheme() == "http"))
                && u.username().is_empty()
                && u.password().is_none()
                && InstanceHost::from_url(&u).is_ok_and(|h| Some(&h) != ours.as_ref())
        });
        if !ok {
            return Err(refuse(
                Rc::AudienceInvalid,
                format!("inbox {inbox:?} is not a remote https URL"),
            ));
        }
    }
    Ok(list)
}

/// Checks, verifies the actor's key, works out the local effect, and appends once with it.
/// `signers` proves the key is usable.
pub async fn publish(
    db: &Db,
    signers: &crate::Signers,
    local: &LocalEffects,
    urls: &LocalUrls,
    dev_mode: bool,
    req: PublishRequest,
) -> Result<Published, Refusal> {
    let item = check(req, urls, dev_mode)?;
    if signers.get(&item.actor_ap_id).await?.is_none() {
        return Err(refuse(
            Rc::ActorNotLocal,
            format!("{:?} has no signing key here", item.actor_ap_id),
        ));
    }
    let activity_id = item.activity_id.clone();
    if let Some(id) = sluice_db::outbound::logged(db, &activity_id).await? {
        return Ok(duplicate(id, activity_id));
    }
    let (changes, not_kept) = match local.of(db, &item.actor_ap_id, &item.raw).await? {
        Effect::Applied(changes) => (*changes, None),
        Effect::NotKept(rc, _) => (Default::default(), Some(rc.code().to_string())),
        Effect::Refused(rc, m) => {
            return Err(refuse(Rc::LocalEffectRefused, format!("{rc}: {m}")));
        }
        Effect::Unavailable(rc, m) => {
            return Err(refuse(Rc::LocalEffectUnavailable, format!("{rc}: {m}")));
        }
    };
    match append_once_applying(db, item, changes).await? {
        AppendOnce::Appended(a) => Ok(Published {
            id: a.id,
            activity_id,
            targets: a.targets,
            duplicate: false,
            applied: not_kept.is_none(),
            not_kept,
        }),
        AppendOnce::Duplicate(id) => Ok(duplicate(id, activity_id)),
        AppendOnce::NoSuchCommunity => Err(refuse(
            Rc::AudienceInvalid,
            "to_followers_of names no local community",
        )),
    }
}

fn duplicate(id: i64, activity_id: String) -> Published {
    Published {
        id,
        activity_id,
        targets: 0,
        duplicate: true,
        applied: false,
        not_kept: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn urls() -> LocalUrls {
        LocalUrls::new("local.example", false).unwrap()
    }

    fn req(activity: serde_json::Value) -> PublishRequest {
        PublishRequest {
            actor: "https://local.example/u/alice".into(),
            activity,
            to_followers_of: None,
            inboxes: Some(vec!["https://peer.example/inbox".into()]),
        }
    }

    fn rc(r: Result<NewOutbound, Refusal>) -> Rc {
        r.unwrap_err().rc
    }

    #[test]
    fn checks_ids_actor_and_audience() {
        let good = json!({"id": "https://local.example/activities/1", "type": "Like",
            "actor": "https://local.example/u/alice", "object": "https://peer.example/post/1"});
        let item = check(req(good.clone()), &urls(), false).unwrap();
        assert_eq!(
            item.object_ap_id.as_deref(),
            Some("https://peer.example/post/1")
        );

        let mut r = req(good.clone());
        r.actor = "https://peer.example/u/bob".into();
        assert_eq!(rc(check(r, &urls(), false)), Rc::ActorNotLocal);

        let foreign = json!({"id": "https://peer.example/a/1", "type": "Like"});
        assert_eq!(
            rc(check(req(foreign), &urls(), false)),
            Rc::ActivityNotLocal
        );

        let other_actor = json!({"id": "https://local.example/a/2", "type": "Like",
            "actor": "https://local.example/u/carol"});
        assert_eq!(
            rc(check(req(other_actor), &urls(), false)),
            Rc::ActorMismatch
        );

        let mut both = req(good.clone());
        both.to_followers_of = Some("https://local.example/c/main".into());
        assert_eq!(rc(check(both, &urls(), false)), Rc::AudienceInvalid);

        let mut plain = req(good.clone());
        plain.inboxes = Some(vec!["http://peer.example/inbox".into()]);
        assert_eq!(
            rc(check(plain.clone(), &urls(), false)),
            Rc::AudienceInvalid
        );
        assert!(
            check(plain, &urls(), true).is_ok(),
            "http is fine in dev mode"
        );

        for bad in [
            "https://local.example/inbox",
            "https://LOCAL.example./inbox",
            "https://user@peer.example/inbox",
            "https://a:b@peer.example/inbox",
            "https://exa$mple.com/inbox",
        ] {
            let mut r = req(good.clone());
            r.inboxes = Some(vec![bad.into()]);
            assert_eq!(rc(check(r, &urls(), false)), Rc::AudienceInvalid, "{bad}");
        }
    }
}
