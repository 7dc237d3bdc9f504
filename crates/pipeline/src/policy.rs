//! The admin's policy chain (`sluice_policy`) in the pipeline: after parsing, looking up
//! and fetching (so rules see what the activity really carries and who its author is),
//! before apply. A rejected row ends `ignored` with the policy's rc, a held one `held`;
//! a rewritten one is applied, and relayed, as rewritten. Every verdict other than accept
//! rides in the batch's write as `policy_decision` rows: no round-trip of its own.
//!
//! Only remote activities are judged: what local actors publish is the application's.
//!
//! What the chain may ask of instances is answered from memory: their policies from the
//! table the batch's lookup holds, when they were first seen from a snapshot this module
//! keeps loaded ([`keep_instance_ages`]).

use crate::batch::ParsedRow;
use crate::ctx::Fetched;
use crate::forwarded;
use crate::outcome::Outcome;
use crate::view::View;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_apub::LocalUrls;
use sluice_apub::vocab::Activity;
use sluice_db::Db;
use sluice_db::ingest::decisions::NewDecision;
use sluice_db::instance_ages::{FirstSeen, InstanceAges};
use sluice_policy::subject::MAX_DEPTH;
use sluice_policy::{Chain, End, Facts, InstanceFacts, Subject};
use sluice_stage::Shutdown;
use sluice_trust::host::InstanceHost;
use sluice_trust::instances::{Decision, Policies};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How often [`keep_instance_ages`] looks whether the snapshot is due.
const AGES_TICK: Duration = Duration::from_secs(30);
/// How old the first-seen snapshot may grow (an instance first seen since then is "not
/// known", which rules for new instances read as new: it is).
const AGES_EVERY: Duration = Duration::from_secs(300);

/// Keeps `ages` loaded while the chain has policies (at start, then every [`AGES_EVERY`]),
/// until `shutdown`. A failed load keeps the snapshot held and is tried again at the next
/// tick.
pub(crate) async fn keep_instance_ages(
    db: Db,
    chain: sluice_policy::Live,
    ages: Arc<InstanceAges>,
    shutdown: Shutdown,
) {
    let mut failed = false;
    loop {
        let due = failed || ages.loaded().is_none_or(|t| t.elapsed() >= AGES_EVERY);
        if due && !chain.current().is_empty() {
            match ages.refresh(&db).await {
                Ok(n) => {
                    failed = false;
                    tracing::debug!(instances = n, "instance first-seen times loaded");
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(error = %e, "instance first-seen times not loaded; the previous ones stay");
                }
            }
        }
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = tokio::time::sleep(AGES_TICK) => {}
        }
    }
}

/// What the chain knows of instances during one batch.
struct BatchInstances {
    policies: Arc<Policies>,
    first_seen: Arc<FirstSeen>,
}

impl InstanceFacts for BatchInstances {
    fn policy(&self, host: &str) -> &'static str {
        let Ok(h) = InstanceHost::parse(host) else {
            return "none";
        };
        if self.policies.decide(&h) == Decision::Blocked {
            "block"
        } else if self.policies.explicitly_allowed(h.as_str()) {
            "allow"
        } else {
            "none"
        }
    }

    fn first_seen(&self, host: &str) -> Option<DateTime<Utc>> {
        let h = InstanceHost::parse(host).ok()?;
        self.first_seen.get(h.as_str()).copied()
    }
}

/// The facts every activity of a batch shares: the time, and what is known of instances
/// (the batch's policy table, the first-seen snapshot).
pub(crate) fn batch_facts(view: &View, ages: &InstanceAges) -> Facts {
    Facts {
        now: Utc::now(),
        author_published: None,
        instances: Arc::new(BatchInstances {
            policies: view.policies.clone(),
            first_seen: ages.snapshot(),
        }),
    }
}

/// The chain's outcome for one row, and the row as it is to be applied when rewritten.
pub(crate) struct Judged {
    pub outcome: sluice_policy::Outcome,
    pub rewritten: Option<ParsedRow>,
}

impl Judged {
    /// The row's outcome when the chain ends it (rejected or held), else `None`: apply it.
    pub(crate) fn step(&self) -> Option<Outcome> {
        match &self.outcome.end {
            End::Accept => None,
            End::Reject { rc, reason } => Some(Outcome::ignored(*rc, reason.clone())),
            End::Hold { policy, reason } => {
                Some(Outcome::Held(format!("policy {policy}: {reason}")))
            }
        }
    }
}

/// Judges `item`; `None` when the chain is empty or has no say (a local actor's activity,
/// a forward its origin has not served yet: the forward's own checks decide it).
pub(crate) fn judge(
    chain: &Chain,
    urls: &LocalUrls,
    item: &ParsedRow,
    fetched: &Fetched,
    view: &View,
    batch: &Facts,
) -> Option<Judged> {
    judge_by(Chain::evaluate, chain, urls, item, fetched, view, batch)
}

/// What one pass of the chain (`ask`: [`Chain::evaluate`] or [`Chain::screen`]) says of
/// `item`.
fn judge_by(
    ask: fn(&Chain, &Value, &Facts, &[String]) -> sluice_policy::Outcome,
    chain: &Chain,
    urls: &LocalUrls,
    item: &ParsedRow,
    fetched: &Fetched,
    view: &View,
    batch: &Facts,
) -> Option<Judged> {
    if chain.is_empty() {
        return None;
    }
    if Url::parse(&item.row.actor).is_ok_and(|u| urls.is_local(&u)) {
        return None;
    }
    let forward = forwarded::pair(item).is_some();
    let base = if forward {
        match fetched.get(item.row.activity_id.as_str()) {
            Some(Ok(doc)) => doc,
            _ => return None,
        }
    } else {
        &item.row.raw
    };
    let value = resolved(base, fetched);
    let author_published = Subject::new(&value)
        .author()
        .and_then(|a| created(a, view, fetched));
    let facts = Facts {
        author_published,
        ..batch.clone()
    };
    let outcome = ask(chain, &value, &facts, &item.row.approved);
    let rewritten = match (&outcome.end, &outcome.rewritten) {
        (End::Accept, Some(v)) if !forward || served_as_forwarded(item, base) => {
            Some(ParsedRow::new(
                sluice_db::ingest::journal::ClaimedActivity {
                    raw: v.clone(),
                    // Verified above (a direct row) or just now (the origin's copy of a
                    // forward): the rewritten activity is applied as received directly.
                    signer: None,
                    ..item.row.clone()
                },
            ))
        }
        _ => None,
    };
    Some(Judged { outcome, rewritten })
}

/// When the account `author` was created: as stored, else as its document fetched for this
/// batch says (a fetched actor joins the view only when an activity is applied).
fn created(author: &str, view: &View, fetched: &Fetched) -> Option<DateTime<Utc>> {
    if let Some(p) = view.persons.get(view.canonical(author)) {
        return p.published;
    }
    let Some(Ok(doc)) = fetched.get(author) else {
        return None;
    };
    doc.get("published")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a forward's origin served the activity as forwarded (its id, by its actor):
/// the forward path's own check, needed before its rewritten copy replaces the row.
fn served_as_forwarded(item: &ParsedRow, doc: &Value) -> bool {
    let Ok(served) = Activity::parse(doc) else {
        return false;
    };
    served.id.as_str() == item.row.activity_id
        && served.actor.as_str() == item.row.actor
        && sluice_apub::vocab::host(&served.actor) == sluice_apub::vocab::host(&served.id)
}

/// Whether the chain already ends `item` before anything is fetched for it (a rejected
/// instance, a keyword in an embedded post): then nothing is fetched for it at all. Only
/// the chain's screen is asked: a policy with state is asked once, by [`judge`].
pub(crate) fn ends_early(
    chain: &Chain,
    urls: &LocalUrls,
    item: &ParsedRow,
    fetched: &Fetched,
    view: &View,
    batch: &Facts,
) -> bool {
    judge_by(Chain::screen, chain, urls, item, fetched, view, batch)
        .is_some_and(|j| j.outcome.end != End::Accept)
}

/// `raw` with objects given only by their id replaced by their fetched documents (at most
/// [`MAX_DEPTH`] levels), so that an Announce or a Create naming its object by URL is
/// judged on what it carries. Borrowed when nothing needs replacing.
fn resolved<'a>(raw: &'a Value, fetched: &Fetched) -> Cow<'a, Value> {
    fn fetched_at<'f>(v: &Value, fetched: &'f Fetched) -> Option<&'f Value> {
        match fetched.get(v.get("object")?.as_str()?) {
            Some(Ok(doc)) => Some(doc),
            _ => None,
        }
    }
    let mut cur = raw;
    let mut depth = 0;
    loop {
        if depth >= MAX_DEPTH {
            return Cow::Borrowed(raw);
        }
        if fetched_at(cur, fetched).is_some() {
            break;
        }
        match cur.get("object") {
            Some(next @ Value::Object(_)) => cur = next,
            _ => return Cow::Borrowed(raw),
        }
        depth += 1;
    }
    let mut copy = raw.clone();
    let mut slot = &mut copy;
    for _ in 0..MAX_DEPTH {
        let Some(doc) = fetched_at(slot, fetched) else {
            match slot.get_mut("object") {
                Some(next @ Value::Object(_)) => {
                    slot = next;
                    continue;
                }
                _ => break,
            }
        };
        if let Some(o) = slot.as_object_mut() {
            o.insert("object".into(), doc.clone());
        }
        match slot.get_mut("object") {
            Some(next) => slot = next,
            None => break,
        }
    }
    Cow::Owned(copy)
}

/// Adds the outcome's decisions to the batch's write, and counts them.
pub(crate) fn record(
    out: &mut Vec<NewDecision>,
    item: &ParsedRow,
    outcome: &sluice_policy::Outcome,
) {
    let m = sluice_metrics::global();
    for d in &outcome.decisions {
        m.policy_decisions_total
            .with_label_values(&[d.policy.as_str(), d.action.as_str()])
            .inc();
        out.push(NewDecision {
            journal_id: item.row.id,
            activity_id: item.row.activity_id.clone(),
            policy: d.policy.clone(),
            action: d.action.as_str(),
            rc: d.rc.map(|rc| rc.code().to_string()),
            reason: d.reason.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_db::ingest::journal::ClaimedActivity;

    fn row(raw: Value, actor: &str, signer: Option<&str>) -> ParsedRow {
        ParsedRow::new(ClaimedActivity {
            id: 1,
            activity_id: raw["id"].as_str().unwrap_or_default().to_string(),
            actor: actor.to_string(),
            kind: "Create".into(),
            raw,
            received_at: Utc::now(),
            attempts: 1,
            signer: signer.map(str::to_string),
            approved: Vec::new(),
        })
    }

    #[test]
    fn an_announce_of_an_id_is_judged_on_what_was_fetched() {
        let announce = json!({"id": "https://c.example/a/1", "type": "Announce",
            "actor": "https://c.example/c/x", "object": "https://a.example/create/1"});
        let mut fetched = Fetched::new();
        assert!(matches!(resolved(&announce, &fetched), Cow::Borrowed(_)));
        fetched.insert(
            "https://a.example/create/1".into(),
            Ok(json!({"id": "https://a.example/create/1", "type": "Create",
                "actor": "https://a.example/u/a",
                "object": {"type": "Note", "content": "inside"}})),
        );
        let v = resolved(&announce, &fetched);
        assert_eq!(v["object"]["object"]["content"], "inside");
        assert_eq!(Subject::new(&v).author(), Some("https://a.example/u/a"));
    }

    #[test]
    fn a_forward_is_replaced_only_by_its_origins_own_copy() {
        let doc = json!({"id": "https://a.example/create/1", "type": "Create",
            "actor": "https://a.example/u/a", "to": [sluice_apub::PUBLIC],
            "object": {"id": "https://a.example/note/1", "type": "Note", "content": "x",
                "attributedTo": "https://a.example/u/a", "to": [sluice_apub::PUBLIC]}});
        assert!(Activity::parse(&doc).is_ok(), "{:?}", Activity::parse(&doc));
        let forward = row(
            doc.clone(),
            "https://a.example/u/a",
            Some("https://f.example/u/f"),
        );
        assert!(served_as_forwarded(&forward, &doc));
        let mut other = doc.clone();
        other["actor"] = json!("https://a.example/u/someone-else");
        assert!(!served_as_forwarded(&forward, &other));
        let mut moved = doc;
        moved["id"] = json!("https://elsewhere.example/create/1");
        assert!(!served_as_forwarded(&forward, &moved));
    }
}
