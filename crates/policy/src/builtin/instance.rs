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
use std::collections::HashSet;

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

/// Domains per rule.
#[derive(Debug)]
pub struct Instances {
    reject: HashSet<String>,
    reject_actors: HashSet<String>,
    quarantine: HashSet<String>,
    strip_media: HashSet<String>,
    no_reports: HashSet<String>,
    force_sensitive: HashSet<String>,
}

/// Whether `host`, its name without the port (an entry without a port covers every port)
/// or one of its parent domains is in `set`.
fn listed<'s>(set: &'s HashSet<String>, host: &InstanceHost) -> Option<&'s str> {
    [host.as_str(), host.name()]
        .into_iter()
        .chain(host.parents())
        .find_map(|h| set.get(h).map(String::as_str))
}

impl Instances {
    pub(crate) fn build(options: Options) -> Result<Instances, String> {
        let c: Config = options.parse()?;
        if c.reject_actors.len() > super::MAX_LIST {
            return Err(format!(
                "reject_actors: at most {} entries",
                super::MAX_LIST
            ));
        }
        Ok(Instances {
            reject: hosts("reject", &c.reject)?,
            reject_actors: c.reject_actors.into_iter().collect(),
            quarantine: hosts("quarantine", &c.quarantine)?,
            strip_media: hosts("strip_media", &c.strip_media)?,
            no_reports: hosts("no_reports", &c.no_reports)?,
            force_sensitive: hosts("force_sensitive", &c.force_sensitive)?,
        })
    }

    fn first(&self, set: &HashSet<String>, s: &Subject<'_>) -> Option<String> {
        if set.is_empty() {
            return None;
        }
        s.hosts().find_map(|h| listed(set, &h).map(str::to_string))
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
        listed(&self.reject, host).map(|d| format!("the instance {d} is rejected"))
    }

    fn decide(&self, s: &Subject<'_>, _: &Facts) -> Verdict {
        if let Some(a) = s.actors().find(|a| self.reject_actors.contains(*a)) {
            return Verdict::reject(Rc::PolicyRejected, format!("the actor {a} is rejected"));
        }
        if let Some(d) = self.first(&self.reject, s) {
            return Verdict::reject(Rc::PolicyRejected, format!("the instance {d} is rejected"));
        }
        if s.kind() == "Flag"
            && let Some(d) = self.first(&self.no_reports, s)
        {
            return Verdict::reject(
                Rc::PolicyRejected,
                format!("reports from {d} are not accepted"),
            );
        }
        let mut reasons: Vec<String> = Vec::new();
        let mut current: Option<Value> = None;
        if let Some(d) = self.first(&self.strip_media, s) {
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
        if let Some(d) = self.first(&self.force_sensitive, s) {
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
        if let Some(d) = self.first(&self.quarantine, s) {
            return Verdict::NoRelay {
                reason: format!("the instance {d} is quarantined"),
            };
        }
        Verdict::Accept
    }

    fn describe(&self) -> String {
        let n = |s: &HashSet<String>| s.len();
        format!(
            "reject {} instances and {} actors; quarantine {}; strip media of {}; no reports from {}; force sensitive {}",
            n(&self.reject),
            n(&self.reject_actors),
            n(&self.quarantine),
            n(&self.strip_media),
            n(&self.no_reports),
            n(&self.force_sensitive)
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
