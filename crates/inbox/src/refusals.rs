//! Refusals counted per instance and rc, for the admin console, at no cost to the request
//! path: a bounded map in memory, added to the database (`inbound_refusal`) by a
//! background task once a minute, one statement per flush, so every process sharing the
//! database contributes.
//!
//! Only requests whose actor host is known (the envelope was parsed) can be attributed;
//! the receiver marks the request with it ([`ActorHost`]). The map holds at most `cap`
//! hosts: the host is chosen by the peer, so beyond the bound refusals count under
//! [`OTHER`] until the next flush empties the map. A flush that fails puts its counts back
//! (within the same bound) for the next one.

use actix_web::HttpMessage;
use sluice_apub::Rc;
use sluice_db::Db;
use sluice_db::refusals::Counted;
use sluice_stage::{Handle, Shutdown};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Where refusals from hosts beyond the bound (or absurdly long ones) are counted.
pub const OTHER: &str = "(other)";
/// Hosts kept between two flushes by default.
pub const DEFAULT_MAX_HOSTS: usize = 10_000;
/// Longest host counted under its own name (a DNS name is at most 253, plus a port).
const HOST_MAX_LEN: usize = 260;

/// The actor host of the request being answered, set on the request once known.
#[derive(Debug, Clone)]
pub(crate) struct ActorHost(pub(crate) String);

/// Refusal counts since the last flush, by host and rc.
#[derive(Debug)]
pub struct RefusalTally {
    counts: Mutex<HashMap<String, HashMap<Rc, u64>>>,
    max_hosts: usize,
}

impl RefusalTally {
    /// A tally keeping at most `max_hosts` hosts by name.
    pub fn new(max_hosts: usize) -> RefusalTally {
        RefusalTally {
            counts: Mutex::new(HashMap::new()),
            max_hosts,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<Rc, u64>>> {
        // A panic elsewhere while holding it leaves counts, not broken invariants.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `n` refusals of `host` with `rc`.
    pub fn add(&self, host: &str, rc: Rc, n: u64) {
        let mut counts = self.lock();
        let named = counts.contains_key(host)
            || (counts.len() < self.max_hosts && host.len() <= HOST_MAX_LEN);
        let key = if named { host } else { OTHER };
        let per_rc = match counts.get_mut(key) {
            Some(per_rc) => per_rc,
            None => counts.entry(key.to_string()).or_default(),
        };
        *per_rc.entry(rc).or_default() += n;
    }

    /// Counts a refusal of the request being answered, if its actor host is known.
    pub(crate) fn refused(&self, req: &actix_web::HttpRequest, rc: Rc) {
        if let Some(ActorHost(host)) = req.extensions().get::<ActorHost>() {
            self.add(host, rc, 1);
        }
    }

    /// Hosts counted by name (not [`OTHER`]).
    pub fn hosts(&self) -> usize {
        self.lock().keys().filter(|h| *h != OTHER).count()
    }

    /// Empties the tally, returning its counts.
    pub fn take(&self) -> Vec<Counted> {
        let counts = std::mem::take(&mut *self.lock());
        counts
            .into_iter()
            .flat_map(|(domain, per_rc)| {
                per_rc.into_iter().map(move |(rc, n)| Counted {
                    domain: domain.clone(),
                    rc: rc.code().to_string(),
                    count: i64::try_from(n).unwrap_or(i64::MAX),
                })
            })
            .collect()
    }

    /// Adds the counts to the database (one statement); on failure they are kept for the
    /// next flush.
    pub async fn flush(&self, db: &Db) -> Result<(), sluice_db::DbError> {
        let rows = self.take();
        let kept = rows.clone();
        sluice_db::refusals::add(db, rows).await.inspect_err(|_| {
            for c in kept {
                if let Some(rc) = Rc::ALL.iter().find(|rc| rc.code() == c.rc) {
                    self.add(&c.domain, *rc, c.count.max(0) as u64);
                }
            }
        })
    }
}

/// How the flusher runs.
#[derive(Debug, Clone, Copy)]
pub struct RefusalFlushConfig {
    /// Between two flushes.
    pub every: Duration,
    /// Hours older than this are deleted (the journal's retention), once an hour.
    pub retention: Duration,
}

/// What the flusher needs from the rest of the process.
pub struct FlushDeps {
    /// The database.
    pub db: Db,
    /// The inbox's counts ([`crate::Inbox::refusal_tally`]).
    pub tally: Arc<RefusalTally>,
}

impl RefusalFlushConfig {
    /// Flushes the tally every `every` until `shutdown`, then once more.
    pub fn start(self, deps: FlushDeps, shutdown: Shutdown) -> Handle {
        let task = tokio::spawn(flusher(deps, self, shutdown.clone()));
        Handle::new("refusal flusher", shutdown, vec![task])
    }
}

async fn flusher(deps: FlushDeps, settings: RefusalFlushConfig, stop: Shutdown) {
    let FlushDeps { db, tally } = deps;
    let prune_every = (3600.0 / settings.every.as_secs_f64().max(1.0)).ceil() as u64;
    let mut flushes = 0u64;
    loop {
        let stopping = tokio::select! {
            _ = stop.triggered() => true,
            _ = tokio::time::sleep(settings.every) => false,
        };
        if let Err(e) = tally.flush(&db).await {
            tracing::warn!(error = %e, "inbox refusal counts not written; kept for the next flush");
        }
        if stopping {
            return;
        }
        if flushes.is_multiple_of(prune_every.max(1)) {
            let older = settings.retention.as_secs_f64();
            if let Err(e) = sluice_db::refusals::prune(&db, older).await {
                tracing::warn!(error = %e, "pruning old inbox refusal counts failed");
            }
        }
        flushes += 1;
    }
}
