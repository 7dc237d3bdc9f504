//! Per-instance rules (Akkoma's SimplePolicy): what to do with what users of an instance
//! write, wherever it reaches us from (directly, or relayed by a community elsewhere).
//! A rule on a domain covers its subdomains, as instance blocks do.

use super::{Options, hosts};
use crate::subject::{Subject, edit_object};
use crate::verdict::Verdict;
use crate::{Facts, Policy};
use serde::Deserialize;
use serde_json::Value;
use sluice_apub::Rc;
use sluice_trust::host::InstanceHost;
use std::collections::{HashMap, HashSet};

/// Media attachments (a Lemmy link post's `Link` attachment is its link, not media).
const MEDIA: &[&str] = &["Image", "Document", "Video", "Audio"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    reject: Vec<String>,
    #[serde(default)]
    reject_actors: Vec<String>,
    #[serde(default)]
    quarantine: Vec<String>,
    #[serde(default)]
    strip_media: Vec<String>,
    #[serde(default)]
    no_reports: Vec<String>,
    #[serde(default)]
    force_sensitive: Vec<String>,
}

/// The lists a domain can be on, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Reject = 1,
    Quarantine = 2,
    StripMedia = 4,
    NoReports = 8,
    ForceSensitive = 16,
}

/// Domains per rule: one map of every listed domain to the lists it is on, so that the
/// hosts of an activity are looked up once per decision, not once per list.
#[derive(Debug)]
pub struct Instances {
    reject_actors: HashSet<String>,
    lists: HashMap<String, u8>,
    /// Domains per list, for `describe`.
    sizes: [usize; 5],
}

/// Adds to `found` what `host`, its name without the port (an entry without a port covers
/// every port) and its parent domains are listed as, nearest first.
fn listed<'s>(lists: &'s HashMap<String, u8>, host: &InstanceHost, found: &mut Found<'s>) {
    let name = Some(host.name()).filter(|n| *n != host.as_str());
    let names = std::iter::once(host.as_str())
        .chain(name)
        .chain(host.parents());
    for (d, bits) in names.filter_map(|h| lists.get_key_value(h)) {
        found.0.push((d.as_str(), *bits));
    }
}

/// The instance hosts of a subject's actors, read once per subject: every instance policy
/// asks about the same hosts.
struct Hosts(Vec<InstanceHost>);

impl Instances {
    pub(crate) fn build(options: Options) -> Result<Instances, String> {
        let c: Config = options.parse()?;
        if c.reject_actors.len() > super::MAX_LIST {
            return Err(format!(
                "reject_actors: at most {} entries",
                super::MAX_LIST
            ));
        }
        let mut lists: HashMap<String, u8> = HashMap::new();
        let mut sizes = [0; 5];
        for (i, (what, list, bit)) in [
            ("reject", &c.reject, List::Reject),
            ("quarantine", &c.quarantine, List::Quarantine),
            ("strip_media", &c.strip_media, List::StripMedia),
            ("no_reports", &c.no_reports, List::NoReports),
            ("force_sensitive", &c.force_sensitive, List::ForceSensitive),
        ]
        .into_iter()
        .enumerate()
        {
            let domains = hosts(what, list)?;
            sizes[i] = domains.len();
            for d in domains {
                *lists.entry(d).or_default() |= bit as u8;
            }
        }
        Ok(Instances {
            reject_actors: c.reject_actors.into_iter().collect(),
            lists,
            sizes,
        })
    }
}

/// The listed domains an activity's hosts fall under, in the order of its actors.
struct Found<'s>(Vec<(&'s str, u8)>);

impl Found<'_> {
    fn first(&self, list: List) -> Option<String> {
        self.0
            .iter()
            .find(|(_, bits)| bits & list as u8 != 0)
            .map(|(d, _)| d.to_string())
    }
}

impl Policy for Instances {
    fn kind(&self) -> &'static str {
        "instance"
    }

    fn precheck(&self, actor: &str, host: &InstanceHost) -> Option<String> {
        if self.reject_actors.contains(actor) {
            return Some(format!("the actor {actor} is rejected"));
        }
        let mut found = Found(Vec::new());
        listed(&self.lists, host, &mut found);
        found
            .first(List::Reject)
            .map(|d| format!("the instance {d} is rejected"))
    }

    fn decide(&self, s: &Subject<'_>, _: &Facts) -> Verdict {
        if let Some(a) = s.actors().find(|a| self.reject_actors.contains(*a)) {
            return Verdict::reject(Rc::PolicyRejected, format!("the actor {a} is rejected"));
        }
        let hosts = s.memo(|s| Hosts(s.hosts().collect()));
        let mut found = Found(Vec::new());
        for h in &hosts.0 {
            listed(&self.lists, h, &mut found);
        }
        if let Some(d) = found.first(List::Reject) {
            return Verdict::reject(Rc::PolicyRejected, format!("the instance {d} is rejected"));
        }
        if s.kind() == "Flag"
            && let Some(d) = found.first(List::NoReports)
        {
            return Verdict::reject(
                Rc::PolicyRejected,
                format!("reports from {d} are not accepted"),
            );
        }
        let mut reasons: Vec<String> = Vec::new();
        let mut current: Option<Value> = None;
        if let Some(d) = found.first(List::StripMedia) {
            let has_media = s
                .object()
                .is_some_and(|o| o.contains_key("image") || attachments(o).any(is_media));
            if has_media {
                current = edit_object(s.raw(), |o| {
                    o.remove("image");
                    if let Some(Value::Array(list)) = o.get_mut("attachment") {
                        list.retain(|a| !is_media(a));
                    } else if o.get("attachment").is_some_and(is_media) {
                        o.remove("attachment");
                    }
                });
                reasons.push(format!("media of {d} stripped"));
            }
        }
        if let Some(d) = found.first(List::ForceSensitive) {
            let sensitive = s
                .object()
                .and_then(|o| o.get("sensitive"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if s.object().is_some() && !sensitive {
                let base = current.as_ref().unwrap_or(s.raw());
                current = edit_object(base, |o| {
                    o.insert("sensitive".into(), Value::Bool(true));
                })
                .or(current);
                reasons.push(format!("content of {d} marked sensitive"));
            }
        }
        if let Some(activity) = current {
            return Verdict::Rewrite {
                activity,
                reason: reasons.join("; "),
            };
        }
        if let Some(d) = found.first(List::Quarantine) {
            return Verdict::NoRelay {
                reason: format!("the instance {d} is quarantined"),
            };
        }
        Verdict::Accept
    }

    fn describe(&self) -> String {
        let [reject, quarantine, strip_media, no_reports, force_sensitive] = self.sizes;
        format!(
            "reject {reject} instances and {} actors; quarantine {quarantine}; strip media of {strip_media}; no reports from {no_reports}; force sensitive {force_sensitive}",
            self.reject_actors.len(),
        )
    }
}

fn attachments(o: &serde_json::Map<String, Value>) -> impl Iterator<Item = &Value> {
    let list: &[Value] = match o.get("attachment") {
        Some(Value::Array(a)) => a,
        Some(one) => std::slice::from_ref(one),
        None => &[],
    };
    list.iter().take(crate::subject::MAX_ITEMS)
}

fn is_media(a: &Value) -> bool {
    a.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| MEDIA.contains(&t))
}
