//! The instance-policy decision: whether we take anything from, or send anything to, an
//! instance. The inbox (per request), the pipeline (per actor, object and fetch) and the send
//! queue (per delivery, at fetch time) all call [`Policies::decide`] over a [`Policies`]
//! built from the same table rows, so the three cannot disagree.
//!
//! The rules:
//! - Hosts are compared in their normal form ([`InstanceHost`]), entries and queries alike.
//! - A **block** covers the host and every subdomain (`blocked.example` blocks
//!   `x.blocked.example`), as Mastodon's domain blocks do: subdomains cost an attacker
//!   nothing, so a block that a subdomain escapes blocks nothing. An entry without a port
//!   covers every port; an entry with a port (`host:8443`, dev setups) covers that port only.
//! - In **allow-list** mode an instance is admitted only when listed itself: exact host
//!   (any port, unless the entry names one). Subdomains of an allowed host are *not*
//!   admitted: allowing `good.example` is trust in that instance, not in whoever gets a name
//!   under it (user subdomains, hosting providers). There is no wildcard entry; each
//!   instance is listed on its own.
//! - A block always wins over an allow, at any level (`ok.blocked.example` stays blocked
//!   even when listed as allowed).
//! - A host that has no normal form is refused: nothing could match it reliably.

use crate::host::{HostError, InstanceHost};
use std::collections::HashSet;
use url::Url;

/// An entry's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Listed as allowed (matters in allow-list mode).
    Allow,
    /// Refused, with its subdomains.
    Block,
}

/// Federation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every instance not blocked is admitted.
    #[default]
    Open,
    /// Only listed instances are admitted.
    Allowlist,
}

/// The decision for one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Talk to it.
    Admitted,
    /// It, or a parent domain, is blocked.
    Blocked,
    /// Allow-list mode and it is not listed.
    NotAllowed,
    /// Not a host name or address at all.
    Unidentifiable,
}

impl Decision {
    /// Whether the instance is admitted.
    pub fn admits(self) -> bool {
        self == Decision::Admitted
    }
}

/// The policy table as every stage holds it in memory.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    mode: Mode,
    blocked: HashSet<String>,
    allowed: HashSet<String>,
}

impl Policies {
    /// An empty table in `mode`.
    pub fn new(mode: Mode) -> Policies {
        Policies {
            mode,
            ..Policies::default()
        }
    }

    /// A table from stored rows. Entries that have no normal form are skipped and returned
    /// (so the caller can log them): such a row can only come from before hosts were
    /// normalised on storage.
    pub fn from_entries<'a>(
        mode: Mode,
        entries: impl IntoIterator<Item = (&'a str, Rule)>,
    ) -> (Policies, Vec<HostError>) {
        let mut p = Policies::new(mode);
        let skipped = entries
            .into_iter()
            .filter_map(|(host, rule)| p.insert(host, rule).err())
            .collect();
        (p, skipped)
    }

    /// Adds an entry (normalised).
    pub fn insert(&mut self, host: &str, rule: Rule) -> Result<(), HostError> {
        let h = InstanceHost::parse(host)?;
        match rule {
            Rule::Allow => self.allowed.insert(h.as_str().to_string()),
            Rule::Block => self.blocked.insert(h.as_str().to_string()),
        };
        Ok(())
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The decision for `host`.
    pub fn decide(&self, host: &InstanceHost) -> Decision {
        let (exact, name) = (host.as_str(), host.name());
        let blocked = self.blocked.contains(exact)
            || self.blocked.contains(name)
            || host.parents().any(|p| self.blocked.contains(p));
        if blocked {
            return Decision::Blocked;
        }
        match self.mode {
            Mode::Open => Decision::Admitted,
            Mode::Allowlist if self.allowed.contains(exact) || self.allowed.contains(name) => {
                Decision::Admitted
            }
            Mode::Allowlist => Decision::NotAllowed,
        }
    }

    /// Whether `host` has an allow entry of its own and is not blocked (allowed instances
    /// are exempt from the inbox's per-instance acceptance rate).
    pub fn explicitly_allowed(&self, host: &str) -> bool {
        InstanceHost::parse(host).is_ok_and(|h| {
            self.decide(&h) == Decision::Admitted
                && (self.allowed.contains(h.as_str()) || self.allowed.contains(h.name()))
        })
    }

    /// The decision for a host given as text (`host[:port]`, any form [`InstanceHost::parse`]
    /// takes).
    pub fn decide_str(&self, host: &str) -> Decision {
        InstanceHost::parse(host).map_or(Decision::Unidentifiable, |h| self.decide(&h))
    }

    /// The decision for the instance an http(s) URL is on.
    pub fn decide_url(&self, url: &Url) -> Decision {
        InstanceHost::from_url(url).map_or(Decision::Unidentifiable, |h| self.decide(&h))
    }
}

/// Whether `inbox` may receive what we send to an actor whose id is `actor`: only an inbox
/// on the actor's own instance (normal forms equal, port included). The rule is the same
/// for `inbox` and `endpoints.sharedInbox`, as Lemmy and Mastodon use them: a shared inbox
/// is its instance's, on the same host as the actors that name it. Without it, one fake
/// actor following a community would aim that community's signed stream at any third party.
pub fn inbox_belongs_to(actor: &InstanceHost, inbox: &str) -> bool {
    Url::parse(inbox)
        .ok()
        .and_then(|u| InstanceHost::from_url(&u).ok())
        .is_some_and(|h| &h == actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(mode: Mode, entries: &[(&str, Rule)]) -> Policies {
        let (p, skipped) = Policies::from_entries(mode, entries.iter().copied());
        assert!(skipped.is_empty(), "{skipped:?}");
        p
    }

    #[test]
    fn a_block_covers_the_host_and_its_subdomains_in_every_spelling() {
        let p = table(Mode::Open, &[("blocked.example", Rule::Block)]);
        for h in [
            "blocked.example",
            "BLOCKED.example.",
            "x.blocked.example",
            "a.b.x.Blocked.Example.",
            "blocked.example:8443",
            "x.blocked.example:443",
            "user@x.blocked.example",
            "https://x.blocked.example/u/a",
        ] {
            assert_eq!(p.decide_str(h), Decision::Blocked, "{h}");
        }
        for h in [
            "notblocked.example",
            "blocked.example.org",
            "example",
            "other",
        ] {
            assert_eq!(p.decide_str(h), Decision::Admitted, "{h}");
        }
    }

    #[test]
    fn entries_are_normalised_like_queries() {
        let p = table(
            Mode::Open,
            &[
                ("Trailing.Example.", Rule::Block),
                ("bücher.example", Rule::Block),
            ],
        );
        assert_eq!(p.decide_str("trailing.example"), Decision::Blocked);
        assert_eq!(p.decide_str("sub.trailing.example."), Decision::Blocked);
        assert_eq!(p.decide_str("xn--bcher-kva.example"), Decision::Blocked);
        assert_eq!(p.decide_str("a.BÜCHER.example"), Decision::Blocked);
    }

    #[test]
    fn a_port_entry_covers_that_port_only_and_addresses_have_no_parents() {
        let p = table(
            Mode::Open,
            &[("127.0.0.9:9", Rule::Block), ("10.0.0.1", Rule::Block)],
        );
        assert_eq!(p.decide_str("127.0.0.9:9"), Decision::Blocked);
        assert_eq!(p.decide_str("127.0.0.9:10"), Decision::Admitted);
        assert_eq!(p.decide_str("10.0.0.1:8080"), Decision::Blocked);
        // `0.0.1` is not a parent of an address.
        let q = table(Mode::Open, &[("0.0.1", Rule::Block)]);
        assert_eq!(q.decide_str("10.0.0.1"), Decision::Admitted);
    }

    #[test]
    fn allowlist_admits_listed_hosts_exactly() {
        let p = table(
            Mode::Allowlist,
            &[
                ("good.example", Rule::Allow),
                ("dev.example:8443", Rule::Allow),
            ],
        );
        assert_eq!(p.decide_str("good.example"), Decision::Admitted);
        assert_eq!(p.decide_str("GOOD.example."), Decision::Admitted);
        assert_eq!(p.decide_str("good.example:8443"), Decision::Admitted);
        assert_eq!(p.decide_str("sub.good.example"), Decision::NotAllowed);
        assert_eq!(p.decide_str("other.example"), Decision::NotAllowed);
        assert_eq!(p.decide_str("dev.example:8443"), Decision::Admitted);
        assert_eq!(p.decide_str("dev.example"), Decision::NotAllowed);
        // Open mode: allow entries change nothing.
        let open = table(Mode::Open, &[("good.example", Rule::Allow)]);
        assert_eq!(open.decide_str("other.example"), Decision::Admitted);
    }

    #[test]
    fn a_block_wins_over_an_allow_at_any_level() {
        for mode in [Mode::Open, Mode::Allowlist] {
            let p = table(
                mode,
                &[
                    ("bad.example", Rule::Block),
                    ("ok.bad.example", Rule::Allow),
                    ("both.example", Rule::Allow),
                    ("both.example", Rule::Block),
                ],
            );
            assert_eq!(p.decide_str("ok.bad.example"), Decision::Blocked);
            assert_eq!(p.decide_str("both.example"), Decision::Blocked);
        }
    }

    #[test]
    fn garbage_hosts_are_refused_and_garbage_entries_reported() {
        let p = table(Mode::Open, &[]);
        assert_eq!(p.decide_str("exa$mple.com"), Decision::Unidentifiable);
        assert_eq!(p.decide_str(""), Decision::Unidentifiable);
        assert!(!Decision::Unidentifiable.admits());
        let url = Url::parse("https://exa$mple.com/u/a").unwrap();
        assert_eq!(p.decide_url(&url), Decision::Unidentifiable);
        let (_, skipped) = Policies::from_entries(
            Mode::Open,
            [("a b", Rule::Block), ("ok.example", Rule::Block)],
        );
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn an_inbox_belongs_only_to_actors_of_its_own_host() {
        let lemmy = InstanceHost::parse("lemmy.example").unwrap();
        for ok in [
            "https://lemmy.example/inbox",
            "https://LEMMY.example./u/a/inbox",
            "https://lemmy.example:443/inbox",
            "https://user@lemmy.example/inbox",
        ] {
            assert!(inbox_belongs_to(&lemmy, ok), "{ok}");
        }
        for foreign in [
            "https://victim.example/inbox",
            "https://inbox.lemmy.example/inbox",
            "https://lemmy.example.evil/inbox",
            "https://lemmy.example:8443/inbox",
            "https://evil.example/?lemmy.example",
            "ftp://lemmy.example/inbox",
            "not a url",
            "",
        ] {
            assert!(!inbox_belongs_to(&lemmy, foreign), "{foreign}");
        }
        let dev = InstanceHost::parse("127.0.0.23:9001").unwrap();
        assert!(inbox_belongs_to(&dev, "http://127.0.0.23:9001/inbox"));
        assert!(!inbox_belongs_to(&dev, "http://127.0.0.24:9001/inbox"));
    }
}
