//! The Fediseer's lists → the synced entries (pure):
//!
//! - a domain endorsed by at least one feeler is allowed;
//! - a domain censured by at least `min_censures` distinct sources is blocked; with
//!   `censure_reasons`, only censures whose reason contains one of the words count;
//!   with `fediseer_hesitations = "block"`, a hesitation counts as a censure;
//! - a block wins over an allow (as in the decision table);
//! - domains are normalised (`sluice_trust::host`); what has no normal form is skipped,
//!   and so is our own domain.

use crate::FediseerConfig;
use crate::api::{Given, Kind};
use sluice_db::instances::Policy;
use sluice_db::synced_policy::SyncedEntry;
use sluice_trust::host::InstanceHost;
use std::collections::BTreeMap;

/// Characters of joined reasons kept per entry.
const MAX_REASON_CHARS: usize = 500;

#[derive(Default)]
struct Tally {
    by: Vec<String>,
    reasons: Vec<String>,
}

impl Tally {
    fn add(&mut self, label: String, reasons: &[String]) {
        if !self.by.contains(&label) {
            self.by.push(label);
        }
        for r in reasons {
            if !self.reasons.contains(r) {
                self.reasons.push(r.clone());
            }
        }
    }

    fn reason(&self) -> Option<String> {
        let joined = self.reasons.join("; ");
        (!joined.is_empty()).then(|| joined.chars().take(MAX_REASON_CHARS).collect())
    }
}

/// The entries the lists call for, one per domain, sorted by domain. `own_domain` is never
/// listed.
pub fn plan(settings: &FediseerConfig, lists: &[Given], own_domain: &str) -> Vec<SyncedEntry> {
    let own = InstanceHost::parse(own_domain).ok();
    let filter: Vec<String> = settings
        .censure_reasons
        .iter()
        .map(|w| w.trim().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    let mut allows: BTreeMap<String, Tally> = BTreeMap::new();
    let mut censures: BTreeMap<String, (Vec<String>, Tally)> = BTreeMap::new();
    for list in lists {
        for item in &list.listed {
            let Ok(host) = InstanceHost::parse(&item.domain) else {
                continue;
            };
            if Some(&host) == own.as_ref() {
                continue;
            }
            let domain = host.as_str().to_string();
            let label = format!("{} by {}", list.kind.verb(), list.by);
            match list.kind {
                Kind::Endorsement => allows.entry(domain).or_default().add(label, &item.reasons),
                Kind::Censure | Kind::Hesitation => {
                    let matches = filter.is_empty()
                        || item.reasons.iter().any(|r| {
                            let r = r.to_lowercase();
                            filter.iter().any(|w| r.contains(w.as_str()))
                        });
                    if !matches {
                        continue;
                    }
                    let (sources, tally) = censures.entry(domain).or_default();
                    if !sources.contains(&list.by) {
                        sources.push(list.by.clone());
                    }
                    tally.add(label, &item.reasons);
                }
            }
        }
    }
    let min = settings.min_censures.max(1);
    let mut entries: BTreeMap<String, SyncedEntry> = allows
        .into_iter()
        .map(|(domain, t)| {
            let entry = SyncedEntry {
                domain: domain.clone(),
                policy: Policy::Allow,
                reason: t.reason(),
                detail: t.by.join(", "),
            };
            (domain, entry)
        })
        .collect();
    for (domain, (sources, t)) in censures {
        if sources.len() >= min {
            let entry = SyncedEntry {
                domain: domain.clone(),
                policy: Policy::Block,
                reason: t.reason(),
                detail: t.by.join(", "),
            };
            entries.insert(domain, entry);
        }
    }
    entries.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hesitations;
    use crate::api::Listed;
    use std::time::Duration;

    fn settings(min: usize, reasons: &[&str]) -> FediseerConfig {
        FediseerConfig {
            url: url::Url::parse("https://fediseer.com").unwrap(),
            feelers: vec!["f.example".into()],
            censure_sources: vec!["s1.example".into(), "s2.example".into()],
            censure_reasons: reasons.iter().map(|r| r.to_string()).collect(),
            min_censures: min,
            hesitations: Hesitations::Ignore,
            interval: Duration::from_secs(60),
        }
    }

    fn list(by: &str, kind: Kind, items: &[(&str, &[&str])]) -> Given {
        Given {
            by: by.into(),
            kind,
            listed: items
                .iter()
                .map(|(d, r)| Listed {
                    domain: d.to_string(),
                    reasons: r.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
        }
    }

    fn summary(entries: &[SyncedEntry]) -> Vec<(String, &'static str)> {
        entries
            .iter()
            .map(|e| (e.domain.clone(), e.policy.as_str()))
            .collect()
    }

    #[test]
    fn endorsements_allow_and_censures_block_with_their_origin() {
        let lists = [
            list(
                "f.example",
                Kind::Endorsement,
                &[("Good.Example.", &["friendly"])],
            ),
            list(
                "s1.example",
                Kind::Censure,
                &[("bad.example", &["spam"]), ("a b", &[])],
            ),
        ];
        let got = plan(&settings(1, &[]), &lists, "me.example");
        assert_eq!(
            summary(&got),
            vec![
                ("bad.example".into(), "block"),
                ("good.example".into(), "allow")
            ]
        );
        assert_eq!(got[0].detail, "censured by s1.example");
        assert_eq!(got[0].reason.as_deref(), Some("spam"));
        assert_eq!(got[1].detail, "endorsed by f.example");
    }

    #[test]
    fn minimum_count_reason_filter_and_block_over_allow() {
        let lists = [
            list(
                "f.example",
                Kind::Endorsement,
                &[("both.example", &[]), ("me.example", &[])],
            ),
            list(
                "s1.example",
                Kind::Censure,
                &[
                    ("both.example", &["Hate speech"]),
                    ("once.example", &["hate"]),
                    ("other.example", &["loud"]),
                ],
            ),
            list(
                "s2.example",
                Kind::Censure,
                &[("both.example", &["hate"]), ("other.example", &["loud"])],
            ),
            list(
                "s2.example",
                Kind::Hesitation,
                &[("once.example", &["hate"])],
            ),
        ];
        let got = plan(&settings(2, &["HATE"]), &lists, "me.example");
        assert_eq!(
            summary(&got),
            vec![
                ("both.example".into(), "block"),
                ("once.example".into(), "block")
            ],
            "hesitations are only fetched when configured; the plan counts what it is given"
        );
        assert_eq!(
            got[0].detail,
            "censured by s1.example, censured by s2.example"
        );
        let one = plan(&settings(3, &[]), &lists, "me.example");
        assert_eq!(summary(&one), vec![("both.example".into(), "allow")]);
    }
}
