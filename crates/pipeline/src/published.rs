//! What the instance's application publishes in a local actor's name, applied here too.
//!
//! A local user's vote, post, follow or moderation reaches the peers through the publish
//! API; the same activity changes the local tables exactly as the pipeline changes them for
//! a remote actor's (the same stages: look up, fetch, apply, changes). So a local user's
//! Follow of a remote community is recorded `pending` and the community's Accept finds it;
//! a vote counts in the score; a local moderator's removal is logged.
//!
//! The caller writes the [`Changes`] in the transaction that appends the activity to the
//! outbound log, so the two happen together or not at all, and once per activity id.
//!
//! Only a Follow may fetch (its community, when not known yet: recording the follow is the
//! point of it). Everything else that names something unknown here changes nothing here
//! and is still sent: sluice keeps no state for it.

use crate::batch::{self, ParsedRow};
use crate::ctx::{Env, Fetched};
use crate::fetch::{Fetch, FetchFailure};
use crate::outcome::Outcome;
use crate::settings::PipelineConfig;
use futures::future::BoxFuture;
use serde_json::Value;
use sluice_apub::vocab::{Activity, AnnounceObject, Object, ObjectRef, Verb};
use sluice_apub::{LocalUrls, Rc};
use sluice_db::ingest::Changes;
use sluice_db::ingest::journal::ClaimedActivity;
use sluice_db::{Db, DbError};
use std::sync::Arc;
use url::Url;

/// What publishing an activity does to the local tables.
#[derive(Debug)]
pub enum Effect {
    /// Applied: write these changes with the append (empty when nothing changed, e.g. a
    /// vote the person had already cast).
    Applied(Box<Changes>),
    /// sluice keeps no state for it (an unknown object, a community nobody here follows, a
    /// local actor's profile): send it, change nothing.
    NotKept(Rc, String),
    /// The rules the pipeline applies to the same activity from a remote actor refuse it
    /// (a vote on deleted content, a moderator action by a non-moderator, a Follow of
    /// something that is not a community): refuse the publication.
    Refused(Rc, String),
    /// Could not be decided now (a Follow's community did not answer): retry later.
    Unavailable(Rc, String),
}

/// Applies published activities; one per process, cheap to share.
pub struct LocalEffects {
    env: Env,
    fetcher: Arc<dyn Fetch>,
}

/// Journal id the applied activity is given: later than anything remembered, so a local
/// actor's activity is never `Superseded` (its own Undos come through here, in order).
const NOW: i64 = i64::MAX;

/// Pipeline outcomes that refuse what an actor did (any other outcome that stores nothing
/// means sluice keeps no state for it). A Follow is refused whenever it cannot be recorded.
const REFUSED: [Rc; 6] = [
    Rc::NotPermitted,
    Rc::ActorBanned,
    Rc::ObjectDeleted,
    Rc::PostLocked,
    Rc::CommunityMismatch,
    Rc::HostMismatch,
];

impl LocalEffects {
    /// Effects for our domain; `fetcher` fetches the communities local users follow.
    pub fn new(settings: PipelineConfig, urls: LocalUrls, fetcher: Arc<dyn Fetch>) -> LocalEffects {
        LocalEffects {
            env: Env { settings, urls },
            fetcher,
        }
    }

    /// What `raw`, published by the local `actor`, does here (nothing is written).
    pub async fn of(&self, db: &Db, actor: &str, raw: &Value) -> Result<Effect, DbError> {
        let Some((actor, raw)) = self.applicable(actor, raw) else {
            return Ok(Effect::NotKept(
                Rc::UnsupportedActivity,
                "it changes nothing sluice keeps (a local actor's profile or account, or a \
                 relayed activity applied when it arrived)"
                    .into(),
            ));
        };
        let item = ParsedRow::new(ClaimedActivity {
            id: NOW,
            activity_id: String::new(),
            actor,
            kind: String::new(),
            raw,
            received_at: chrono::Utc::now(),
            attempts: 1,
            signer: None,
            approved: Vec::new(),
        });
        let follow = matches!(&item.parsed, Ok(a) if matches!(a.verb, Verb::Follow(_)));
        let fetcher: &dyn Fetch = if follow { &*self.fetcher } else { &Offline };
        let mut conn = db.get().await?;
        let mut fetched = Fetched::new();
        let (steps, mut view) = batch::run(
            &mut conn,
            &self.env,
            fetcher,
            &mut fetched,
            // A publish is rare next to a batch: it reads the policy rows in its lookup
            // rather than holding a cache of its own.
            &Default::default(),
            std::slice::from_ref(&item),
        )
        .await?;
        // Only what the application published is sent: no Accept, no community Announce.
        view.outbound.clear();
        let step = steps.into_iter().next().unwrap_or(Outcome::unchanged());
        Ok(match step {
            Outcome::Done { .. } => Effect::Applied(Box::new(view.changes())),
            // Only a Follow waits on a fetch; anything else unresolved is simply not known.
            Outcome::Retry(rc, m) if follow => Effect::Unavailable(rc, m),
            Outcome::Need(_) if follow => {
                Effect::Unavailable(Rc::UnknownObject, "the community is unresolved".into())
            }
            Outcome::Need(_) => Effect::NotKept(Rc::UnknownObject, "not known here".into()),
            Outcome::Ignored(rc, m) | Outcome::Failed(rc, m) if follow || REFUSED.contains(&rc) => {
                Effect::Refused(rc, m)
            }
            Outcome::Ignored(rc, m) | Outcome::Failed(rc, m) | Outcome::Retry(rc, m) => {
                Effect::NotKept(rc, m)
            }
            // The chain judges remote activities only; a local actor's is never held.
            Outcome::Held(m) => Effect::NotKept(Rc::PolicyHeld, m),
        })
    }

    /// The activity to apply and its actor: the published one, or what a local community
    /// announces of a local actor's (a remote actor's was applied when it arrived). `None`
    /// for what changes nothing sluice keeps: profiles and accounts of local actors are
    /// the application's and the admin commands' (the pipeline refuses to change them).
    fn applicable(&self, actor: &str, raw: &Value) -> Option<(String, Value)> {
        let a = Activity::parse(raw).ok()?;
        let local_actor = |id: &Url| self.env.urls.is_local(id);
        match &a.verb {
            Verb::Announce(AnnounceObject::Activity(inner)) => {
                let inner_raw = raw.get("object")?;
                local_actor(&inner.actor)
                    .then(|| self.applicable(inner.actor.as_str(), inner_raw))
                    .flatten()
            }
            Verb::Announce(_) => None,
            Verb::Create(ObjectRef::Embedded(o)) | Verb::Update(ObjectRef::Embedded(o))
                if matches!(**o, Object::Actor(_)) =>
            {
                None
            }
            Verb::Update(ObjectRef::Id(id)) if self.actor_like(id) => None,
            Verb::Delete { object, .. } if self.actor_like(object.id()) => None,
            _ => Some((actor.to_string(), raw.clone())),
        }
    }

    /// Whether a local id names an actor (`/u/NAME`, `/c/NAME`, the instance actor).
    fn actor_like(&self, id: &Url) -> bool {
        let path = id.path();
        local_actor_path(path) && self.env.urls.is_local(id)
    }
}

fn local_actor_path(path: &str) -> bool {
    let rest = path
        .strip_prefix("/u/")
        .or_else(|| path.strip_prefix("/c/"));
    path == "/" || rest.is_some_and(|r| !r.is_empty() && !r.contains('/'))
}

/// The fetcher for everything but a Follow: nothing is fetched for a publication, and
/// what is not known here is not kept.
struct Offline;

impl Fetch for Offline {
    fn fetch_json<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<Value, FetchFailure>> {
        Box::pin(async move {
            Err(FetchFailure {
                rc: Rc::UnknownObject,
                transient: false,
                message: format!("{url} is not known here (nothing is fetched for it)"),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::local_actor_path;

    #[test]
    fn actor_paths() {
        for p in ["/", "/u/alice", "/c/main"] {
            assert!(local_actor_path(p), "{p}");
        }
        for p in ["/post/1", "/u/", "/u/alice/outbox", "/activities/x", "/c"] {
            assert!(!local_actor_path(p), "{p}");
        }
    }
}
