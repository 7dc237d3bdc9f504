//! Instance policy, held in memory: checked on every request before anything is written,
//! at no database cost. The background probe watches `policy_generation` (bumped by every
//! `sluice instance ...` change) and reloads the whole table when it moves, so a change
//! reaches every sluice process within one refresh interval, without a restart.
//!
//! The decision is `sluice_trust::instances` (normal forms, subdomains, allow-list), the
//! same the pipeline and the send queue make, over the same kind of table
//! (`sluice_db::policy_cache::PolicyCache`).

use crate::Refusal;
use sluice_apub::Rc;
use sluice_db::policy_cache::PolicyCache;
use sluice_trust::instances::Decision;

/// The process's policy table as the request path asks it: a refusal, not a decision.
#[derive(Debug, Default)]
pub struct Admission {
    /// The table and its generation (the probe keeps it current).
    pub cache: PolicyCache,
}

impl Admission {
    /// The decision for an instance (`host[:port]`).
    pub fn decide(&self, authority: &str) -> Decision {
        self.cache.policies().decide_str(authority)
    }

    /// True when `authority` has an allow entry and is not blocked.
    pub fn is_allowed(&self, authority: &str) -> bool {
        self.cache.policies().explicitly_allowed(authority)
    }

    /// Accepts or refuses an activity whose actor lives on `authority`.
    pub fn check(&self, authority: &str) -> Result<(), Refusal> {
        match self.decide(authority) {
            Decision::Admitted => Ok(()),
            Decision::Blocked => Err(Refusal::new(
                Rc::InstanceBlocked,
                format!("{authority} is blocked by this instance"),
            )),
            Decision::NotAllowed => Err(Refusal::new(
                Rc::InstanceNotAllowed,
                format!(
                    "this instance federates only with allowed instances; {authority} is not one"
                ),
            )),
            Decision::Unidentifiable => Err(Refusal::new(
                Rc::InstanceNotAllowed,
                format!("{authority:?} is not an instance host name"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_db::instances::{Mode, Policy, PolicySnapshot};

    fn cache(mode: Mode, entries: &[(&str, Policy)]) -> Admission {
        let c = Admission::default();
        c.cache.replace(&PolicySnapshot {
            generation: 1,
            mode: Some(mode),
            entries: entries.iter().map(|(d, p)| (d.to_string(), *p)).collect(),
        });
        c
    }

    #[test]
    fn blocks_cover_subdomains_and_win_over_allows() {
        let c = cache(
            Mode::Open,
            &[
                ("bad.example", Policy::Block),
                ("ok.bad.example", Policy::Allow),
                ("127.0.0.1:9", Policy::Block),
            ],
        );
        for blocked in [
            "bad.example",
            "x.bad.example",
            "bad.example:8443",
            "bad.example.",
            "ok.bad.example",
            "127.0.0.1:9",
        ] {
            assert_eq!(
                c.check(blocked).unwrap_err().rc,
                Rc::InstanceBlocked,
                "{blocked}"
            );
        }
        assert!(c.check("notbad.example").is_ok());
        assert!(c.check("127.0.0.1:10").is_ok());
    }

    #[test]
    fn allowlist_mode_refuses_everything_not_listed() {
        let c = cache(Mode::Allowlist, &[("good.example", Policy::Allow)]);
        assert!(c.check("good.example").is_ok());
        assert!(c.check("GOOD.example.").is_ok());
        for refused in ["sub.good.example", "other.example", "exa$mple.com"] {
            assert_eq!(
                c.check(refused).unwrap_err().rc,
                Rc::InstanceNotAllowed,
                "{refused}"
            );
        }
    }
}
