//! The inbox receiver: verify the HTTP signature, journal the activity, acknowledge after
//! one database round-trip.
//!
//! A serial sender (Lemmy 0.19's per-instance queue) waits for our answer before it sends
//! the next activity, so the time from its request to our 2xx caps how fast that peer can
//! federate to us. Everything that can happen after the answer does: the request path ends
//! at the journal, and the pipeline processes journal rows in batches.
//!
//! Read top to bottom, the stages are:
//!
//! 1. [`receive`]: the endpoints and the request path, step by step (limits, parse, policy);
//! 2. [`verify`] and [`key_tiers`]: the HTTP signature and the signer's key, cheapest tier first
//!    (memory → `remote_key` → a signed fetch);
//! 3. [`journal`]: the one durable write, shared by concurrent requests (group commit).
//!
//! What the request path needs from the database besides the journal (instance policy,
//! local actor names, journal depth and lag) is held in memory ([`policy`],
//! [`local_actors`]) and refreshed by one background probe per interval ([`refresh`]), so
//! with the key in memory an acknowledgement costs at most one round-trip: the shared
//! insert. (The first request to an actor created since the last probe pays one more: the
//! lookup of its name.)
//!
//! Wiring: [`InboxConfig::start`] with [`Deps`] and a shutdown signal, then [`configure`]
//! in the actix `App` with the [`Inbox`] it returns.

#![deny(missing_docs)]

pub mod budget;
mod chain;
mod config;
pub mod envelope;
pub mod handoff;
pub mod journal;
pub mod key_tiers;
pub mod local_actors;
pub mod policy;
pub mod receive;
mod refresh;
pub mod refusals;
pub mod verify;

pub use config::InboxConfig;
pub use journal::JournalStats;
pub use sluice_refusal::Refusal;

use actix_web::web;
use sluice_apub::Rc;
use sluice_apub::signature::Signer;
use sluice_db::{Db, DbError};
use sluice_stage::{Handle, Shutdown, Waker};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What the inbox needs from the rest of the process.
#[derive(Clone)]
pub struct Deps {
    /// The database.
    pub db: Db,
    /// Outgoing HTTP (key fetches).
    pub net: sluice_net::Client,
    /// The instance actor's key: key fetches are signed as it.
    pub signer: Signer,
    /// Woken after every journal insert that stored a new activity (the pipeline's waker):
    /// its idle processors start on it at once instead of at their next poll.
    pub journaled: Option<Waker>,
    /// `journal = "local"`: acknowledge after this journal's fsync (its drainer is a stage
    /// of its own); `None`: the group-commit insert into `received_activity`.
    pub local_journal: Option<Arc<sluice_localjournal::LocalJournal>>,
}

/// The running receiver: cheap to clone; hand it to [`configure`].
#[derive(Clone)]
pub struct Inbox {
    shared: Arc<Shared>,
}

/// State shared by the handlers and the background tasks.
pub(crate) struct Shared {
    pub(crate) cfg: InboxConfig,
    pub(crate) db: Db,
    pub(crate) keys: key_tiers::KeyStore,
    pub(crate) policy: policy::Admission,
    pub(crate) local: local_actors::LocalActors,
    pub(crate) pressure: refresh::Pressure,
    pub(crate) journal: handoff::Handoff,
    /// Per-instance acceptance buckets (`None`: no limit).
    pub(crate) rate: Option<budget::Buckets>,
    /// Refusals by instance and rc, until the flusher writes them.
    pub(crate) refusals: Arc<refusals::RefusalTally>,
}

impl InboxConfig {
    /// Loads policy, local actor names and journal pressure (so the first request sees
    /// them), then starts the journal writer and the background probe on the current
    /// runtime. Both run until `shutdown`; the writer then commits what is queued. The
    /// [`Inbox`] is what the routes serve; the handle joins the stage.
    pub async fn start(self, deps: Deps, shutdown: Shutdown) -> Result<(Inbox, Handle), DbError> {
        let cfg = self;
        let keys = key_tiers::KeyStore::new(
            deps.db.clone(),
            deps.net,
            deps.signer,
            key_tiers::KeySettings {
                local_domain: cfg.domain.clone(),
                cache_size: cfg.key_cache_size,
                cache_ttl: cfg.key_cache_ttl,
                refetch_after: cfg.key_refetch_after,
                fetch_per_minute: cfg.key_fetch_per_minute,
                fetch_per_host_per_minute: cfg.key_fetch_per_host_per_minute,
                failure_ttl: cfg.key_failure_ttl,
                transient_failure_ttl: cfg.key_transient_failure_ttl,
            },
        );
        let rate = (cfg.rate_limit_per_instance > 0).then(|| {
            let per_second = cfg.rate_limit_per_instance as f64;
            let burst = if cfg.rate_limit_burst == 0 {
                per_second
            } else {
                cfg.rate_limit_burst as f64
            };
            budget::Buckets::new(budget::Rate { per_second, burst }, 100_000)
        });
        let (journal, writer) = match deps.local_journal {
            Some(local) => (handoff::Handoff::Local(local), None),
            None => {
                let (journal, writer) = journal::Journal::start(
                    deps.db.clone(),
                    journal::WriterConfig {
                        batch_max: cfg.journal_batch_max,
                        inflight: cfg.journal_inflight,
                        linger: cfg.journal_linger,
                    },
                    deps.journaled,
                    shutdown.clone(),
                );
                (handoff::Handoff::Postgres(journal), Some(writer))
            }
        };
        let shared = Arc::new(Shared {
            db: deps.db,
            keys,
            policy: policy::Admission::default(),
            local: local_actors::LocalActors::new(budget::Rate {
                per_second: cfg.actor_lookups_per_minute as f64 / 60.0,
                burst: cfg.actor_lookup_burst.max(1) as f64,
            }),
            pressure: refresh::Pressure::default(),
            journal,
            rate,
            refusals: Arc::new(refusals::RefusalTally::new(refusals::DEFAULT_MAX_HOSTS)),
            cfg,
        });
        // Fingerprint -1 forces the first load (the policy cache starts with none).
        shared.local.replace(-1, vec![], vec![]);
        refresh::tick(&shared).await?;
        let probe = tokio::spawn(refresh::run(shared.clone(), shutdown.clone()));
        let tasks = std::iter::once(probe).chain(writer).collect();
        let handle = Handle::new("inbox", shutdown, tasks);
        Ok((Inbox { shared }, handle))
    }
}

impl Inbox {
    /// Group-commit counters (inserts vs activities).
    pub fn journal_stats(&self) -> JournalStats {
        self.shared.journal.stats()
    }

    /// The refusal counts by instance and rc, for the flusher ([`refusals::RefusalFlushConfig`]).
    pub fn refusal_tally(&self) -> Arc<refusals::RefusalTally> {
        self.shared.refusals.clone()
    }

    /// Re-reads policy, local actor names and journal pressure now, instead of at the next
    /// background tick (admin tooling and tests).
    pub async fn refresh_now(&self) -> Result<(), DbError> {
        refresh::tick(&self.shared).await
    }
}

impl Shared {
    /// 429 when the journal is beyond its configured depth or lag (read from memory).
    pub(crate) fn check_pressure(&self) -> Result<(), Refusal> {
        let depth = self.pressure.depth.load(Ordering::Relaxed);
        let lag = Duration::from_millis(self.pressure.lag_ms.load(Ordering::Relaxed));
        let over_depth = self.cfg.backpressure_depth > 0 && depth > self.cfg.backpressure_depth;
        let over_lag = !self.cfg.backpressure_lag.is_zero() && lag > self.cfg.backpressure_lag;
        if over_depth || over_lag {
            let mut r = Refusal::new(
                Rc::Backpressure,
                format!(
                    "the journal is behind ({depth} unprocessed, oldest {} s); retry later",
                    lag.as_secs()
                ),
            );
            r.retry_after = Some(self.cfg.retry_after);
            return Err(r);
        }
        Ok(())
    }

    /// 429 when the instance `authority` is past its acceptance rate (memory only).
    /// Instances the policy allows are exempt: the admin vouched for them.
    pub(crate) fn check_rate(&self, authority: &str) -> Result<(), Refusal> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        if self.policy.is_allowed(authority) {
            return Ok(());
        }
        rate.take(authority).map_err(|wait| {
            Refusal::new(
                Rc::RateLimited,
                format!(
                    "{authority} sends more than {} activities per second; retry later",
                    self.cfg.rate_limit_per_instance
                ),
            )
            .retry_after(wait.max(Duration::from_secs(1)))
        })
    }
}

/// Registers the inbox routes (`POST /inbox`, `/c/{name}/inbox`, `/u/{name}/inbox`; other
/// methods answer 405). Register before routes with overlapping patterns
/// (`/c/{name}/{collection}`): actix picks the first resource whose path matches.
pub fn configure(cfg: &mut web::ServiceConfig, inbox: Inbox) {
    let not_allowed = || web::route().to(receive::method_not_allowed);
    cfg.app_data(web::Data::new(inbox))
        .service(
            web::resource("/inbox")
                .route(web::post().to(receive::shared_inbox))
                .default_service(not_allowed()),
        )
        .service(
            web::resource("/c/{name}/inbox")
                .route(web::post().to(receive::community_inbox))
                .default_service(not_allowed()),
        )
        .service(
            web::resource("/u/{name}/inbox")
                .route(web::post().to(receive::person_inbox))
                .default_service(not_allowed()),
        );
}
