//! Which local inboxes exist, so `POST /c/NAME/inbox` for a NAME that is no local actor is
//! a 404, and one created a moment ago, by any process sharing the database, is not.
//!
//! Known names cost no database work: the background probe counts `local_key` rows (one per
//! local actor, never deleted) and reloads every name when the count moves. A name not
//! known (yet) costs ONE lookup on the unique index of local names; a name found is kept,
//! so only the first request to a new actor pays it. Lookups are bounded by a token bucket
//! (`InboxConfig::actor_lookups_per_minute`, `actor_lookup_burst`), so a flood of random
//! names costs at most that many round-trips. Past the bucket, a name found absent within
//! [`ABSENT_TTL`] is a 404 from memory; any other is 503 `InboxLookupBusy` with
//! `Retry-After`: refusing a real, new actor's inbox for good (404) because strangers
//! spent the bucket would lose activities, a retry loses nothing.
//!
//! The absent names are consulted only when the bucket is empty, so an unknown name asked
//! for before its actor was created never shadows the actor afterwards (no 404 window).

use crate::budget::{Global, Rate};
use sluice_apub::Rc;
use sluice_db::Db;
use sluice_db::served::{self, LocalKind};
use sluice_refusal::Refusal;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long a name looked up and found absent answers 404 from memory when the lookup
/// bucket is empty.
pub const ABSENT_TTL: Duration = Duration::from_secs(10);
/// Most absent names remembered (beyond it, expired ones are dropped, then none is added).
const ABSENT_CAPACITY: usize = 10_000;

/// Which inbox a request was addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/inbox`: the shared inbox, also the instance actor's.
    Shared,
    /// `/c/NAME/inbox`.
    Community(String),
    /// `/u/NAME/inbox`.
    Person(String),
}

impl Target {
    /// The kind and name of a local actor's inbox (`None` for the shared inbox).
    fn named(&self) -> Option<(LocalKind, &str)> {
        match self {
            Target::Shared => None,
            Target::Community(n) => Some((LocalKind::Community, n)),
            Target::Person(n) => Some((LocalKind::Person, n)),
        }
    }
}

/// The known local names, and what the lookups of unknown ones learned.
#[derive(Debug)]
pub struct LocalActors {
    current: RwLock<Arc<Names>>,
    /// Found by a lookup since the last reload.
    found: RwLock<HashSet<(LocalKind, String)>>,
    /// Looked up and absent, with when.
    absent: Mutex<HashMap<(LocalKind, String), Instant>>,
    lookups: Global,
}

#[derive(Debug, Default)]
struct Names {
    fingerprint: i64,
    communities: HashSet<String>,
    persons: HashSet<String>,
}

impl LocalActors {
    /// No names yet; at most `lookups` of unknown names.
    pub fn new(lookups: Rate) -> LocalActors {
        LocalActors {
            current: RwLock::default(),
            found: RwLock::default(),
            absent: Mutex::default(),
            lookups: Global::new(lookups),
        }
    }

    /// Replaces the names (lower case) and remembers the probe value they belong to.
    pub fn replace(&self, fingerprint: i64, communities: Vec<String>, persons: Vec<String>) {
        let names = Names {
            fingerprint,
            communities: communities.into_iter().collect(),
            persons: persons.into_iter().collect(),
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(names);
        // Everything found is in the reload, unless it committed after the reload's read;
        // then the next request pays one lookup again.
        self.found
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The probe value the names were loaded at.
    pub fn fingerprint(&self) -> i64 {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fingerprint
    }

    /// True when `target` is an inbox we know, from memory only.
    pub fn known(&self, target: &Target) -> bool {
        let Some((kind, name)) = target.named() else {
            return true;
        };
        let name = name.to_lowercase();
        let names = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let listed = match kind {
            LocalKind::Community => names.communities.contains(&name),
            LocalKind::Person => names.persons.contains(&name),
        };
        listed
            || self
                .found
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&(kind, name))
    }

    /// Ok when `target` is a local inbox: from memory, else by one lookup (see the module
    /// doc for the bound). 404 when it is not; 503 when the bound or the database stops us
    /// from knowing.
    pub async fn check(&self, db: &Db, target: &Target) -> Result<(), Refusal> {
        let Some((kind, name)) = target.named() else {
            return Ok(());
        };
        // Checked as sent: lower-casing first would let `\u{212A}` (Kelvin) pass as `k`.
        if !sluice_apub::actor::is_valid_name(name) {
            return Err(not_found());
        }
        if self.known(target) {
            return Ok(());
        }
        let key = (kind, name.to_lowercase());
        if let Err(wait) = self.lookups.take() {
            if self.recently_absent(&key) {
                return Err(not_found());
            }
            return Err(Refusal::new(
                Rc::InboxLookupBusy,
                "this inbox is not known here yet and too many unknown inboxes were asked \
                 for; retry later",
            )
            .retry_after(wait.max(Duration::from_secs(1))));
        }
        let exists = served::local_name_exists(db, kind, &key.1)
            .await
            .map_err(Refusal::from)?;
        if exists {
            self.found
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
            Ok(())
        } else {
            self.remember_absent(key);
            Err(not_found())
        }
    }

    fn recently_absent(&self, key: &(LocalKind, String)) -> bool {
        let absent = self.absent.lock().unwrap_or_else(|p| p.into_inner());
        absent.get(key).is_some_and(|at| at.elapsed() < ABSENT_TTL)
    }

    fn remember_absent(&self, key: (LocalKind, String)) {
        let mut absent = self.absent.lock().unwrap_or_else(|p| p.into_inner());
        if absent.len() >= ABSENT_CAPACITY {
            absent.retain(|_, at| at.elapsed() < ABSENT_TTL);
            if absent.len() >= ABSENT_CAPACITY {
                return;
            }
        }
        absent.insert(key, Instant::now());
    }
}

fn not_found() -> Refusal {
    Refusal::new(Rc::NotFound, "no such inbox")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_case_insensitive_and_the_shared_inbox_always_exists() {
        let l = LocalActors::new(Rate::per_minute(1));
        l.replace(1, vec!["rust".into()], vec!["alice".into()]);
        assert!(l.known(&Target::Shared));
        assert!(l.known(&Target::Community("Rust".into())));
        assert!(l.known(&Target::Person("alice".into())));
        assert!(!l.known(&Target::Person("rust".into())));
        assert!(!l.known(&Target::Community("alice".into())));
    }

    #[test]
    fn absent_names_are_remembered_for_a_while_only() {
        let l = LocalActors::new(Rate::per_minute(1));
        let key = (LocalKind::Community, "nope".to_string());
        assert!(!l.recently_absent(&key));
        l.remember_absent(key.clone());
        assert!(l.recently_absent(&key));
        assert!(!l.recently_absent(&(LocalKind::Person, "nope".to_string())));
    }
}
