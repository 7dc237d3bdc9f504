//! Instance policy, held in memory: checked on every request before anything is written,
//! at no database cost. The background probe watches `policy_generation` (bumped by every
//! `sluice instance ...` change) and reloads the whole table when it moves, so a change
//! reaches every sluice process within one refresh interval, without a restart.
//!
//! Matching: the actor's host[:port] exactly, then the host without port, then each parent
//! domain (`a.b.example` → `b.example` → `example`): a block on a domain covers its
//! subdomains, as admins expect; the most specific entry wins.

use crate::Refusal;
use sluice_apub::Rc;
use sluice_db::instances::{Mode, Policy, PolicySnapshot};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The policy table in memory.
#[derive(Debug, Default)]
pub struct PolicyCache {
    current: RwLock<Arc<Loaded>>,
}

#[derive(Debug, Default)]
struct Loaded {
    generation: i64,
    allowlist: bool,
    entries: HashMap<String, Policy>,
}

impl PolicyCache {
    /// Replaces the table.
    pub fn replace(&self, snap: PolicySnapshot) {
        let loaded = Loaded {
            generation: snap.generation,
            allowlist: snap.mode == Some(Mode::Allowlist),
            entries: snap.entries.into_iter().collect(),
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
    }

    /// The generation loaded.
    pub fn generation(&self) -> i64 {
        self.snapshot().generation
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The entry that applies to `authority` (host[:port], lower case), if any.
    fn lookup(loaded: &Loaded, authority: &str) -> Option<Policy> {
        if let Some(p) = loaded.entries.get(authority) {
            return Some(*p);
        }
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        };
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            return loaded.entries.get(host).copied();
        }
        let mut rest = host;
        loop {
            if let Some(p) = loaded.entries.get(rest) {
                return Some(*p);
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => return None,
            }
        }
    }

    /// True when the entry that applies to `authority` is `allow`.
    pub fn is_allowed(&self, authority: &str) -> bool {
        Self::lookup(&self.snapshot(), authority) == Some(Policy::Allow)
    }

    /// Accepts or refuses an activity whose actor lives on `authority`.
    pub fn check(&self, authority: &str) -> Result<(), Refusal> {
        let loaded = self.snapshot();
        match Self::lookup(&loaded, authority) {
            Some(Policy::Block) => Err(Refusal::new(
                Rc::InstanceBlocked,
                format!("{authority} is blocked by this instance"),
            )),
            Some(Policy::Allow) => Ok(()),
            _ if loaded.allowlist => Err(Refusal::new(
                Rc::InstanceNotAllowed,
                format!(
                    "this instance federates only with allowed instances; {authority} is not one"
                ),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(mode: Mode, entries: &[(&str, Policy)]) -> PolicyCache {
        let c = PolicyCache::default();
        c.replace(PolicySnapshot {
            generation: 1,
            mode: Some(mode),
            entries: entries.iter().map(|(d, p)| (d.to_string(), *p)).collect(),
        });
        c
    }

    #[test]
    fn blocks_cover_subdomains_and_the_most_specific_entry_wins() {
        let c = cache(
            Mode::Open,
            &[
                ("bad.example", Policy::Block),
                ("ok.bad.example", Policy::Allow),
                ("127.0.0.1:9", Policy::Block),
            ],
        );
        assert_eq!(c.check("bad.example").unwrap_err().rc, Rc::InstanceBlocked);
        assert_eq!(
            c.check("x.bad.example").unwrap_err().rc,
            Rc::InstanceBlocked
        );
        assert_eq!(
            c.check("bad.example:8443").unwrap_err().rc,
            Rc::InstanceBlocked
        );
        assert!(c.check("ok.bad.example").is_ok());
        assert!(c.check("notbad.example").is_ok());
        assert_eq!(c.check("127.0.0.1:9").unwrap_err().rc, Rc::InstanceBlocked);
        assert!(c.check("127.0.0.1:10").is_ok());
    }

    #[test]
    fn allowlist_mode_refuses_everything_not_allowed() {
        let c = cache(Mode::Allowlist, &[("good.example", Policy::Allow)]);
        assert!(c.check("good.example").is_ok());
        assert!(c.check("sub.good.example").is_ok());
        assert_eq!(
            c.check("other.example").unwrap_err().rc,
            Rc::InstanceNotAllowed
        );
    }
}
