//! Names of local actors, in memory, so `POST /c/NAME/inbox` for an unknown NAME is a 404
//! without a database round-trip. The background probe counts `local_key` rows (one per
//! local actor, never deleted) and reloads the names when the count moves: a community
//! created with `sluice community create` gets its inbox within one refresh interval.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

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

/// The known local names.
#[derive(Debug, Default)]
pub struct LocalActors {
    current: RwLock<Arc<Names>>,
}

#[derive(Debug, Default)]
struct Names {
    fingerprint: i64,
    communities: HashSet<String>,
    persons: HashSet<String>,
}

impl LocalActors {
    /// Replaces the names (lower case) and remembers the probe value they belong to.
    pub fn replace(&self, fingerprint: i64, communities: Vec<String>, persons: Vec<String>) {
        let names = Names {
            fingerprint,
            communities: communities.into_iter().collect(),
            persons: persons.into_iter().collect(),
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(names);
    }

    /// The probe value the names were loaded at.
    pub fn fingerprint(&self) -> i64 {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fingerprint
    }

    /// True when `target` is an inbox we have.
    pub fn exists(&self, target: &Target) -> bool {
        let names = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match target {
            Target::Shared => true,
            Target::Community(n) => names.communities.contains(&n.to_lowercase()),
            Target::Person(n) => names.persons.contains(&n.to_lowercase()),
        }
    }
}
