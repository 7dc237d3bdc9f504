//! Forwarded activities: signed by someone other than their actor (inbox forwarding: a
//! server passing on an activity addressed to its followers). The signature proves only who
//! forwarded it, so, as Mastodon does, the activity counts only as its origin serves it:
//! fetched by its id (a budgeted pipeline fetch, signed as our instance actor so servers in
//! authorized-fetch mode answer), and applied only when the origin serves an activity with
//! that id, by that actor. What the forwarder sent is never applied.
//!
//! A forwarder can name ids on any host, so unverified forwards are remembered per
//! (forwarder's host, origin host) for [`WINDOW`]: while a pair is remembered, its forwards
//! are retried later without a fetch (a genuine one is applied once the window has passed; a
//! forged one ends `failed` after its attempts), and one chunk fetches at most
//! [`PER_PAIR`] forwards of a pair. A forger therefore costs the origin a few GETs a
//! minute, however many activities it sends.

use crate::apply::{Via, apply};
use crate::batch::ParsedRow;
use crate::ctx::{Ctx, Env, Fetched};
use crate::fetch::FetchFailure;
use crate::outcome::Outcome;
use crate::view::View;
use serde_json::Value;
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, host};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use url::Url;

/// How long an unverified forward keeps its pair from fetching.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// Forwards of one pair fetched in one chunk at most.
pub(crate) const PER_PAIR: usize = 8;

/// Pairs remembered at most (expired ones are dropped first; beyond, the oldest).
const MAX_PAIRS: usize = 10_000;

/// (forwarder's host, origin host) of a forwarded row; `None` for any other row.
pub(crate) fn pair(item: &ParsedRow) -> Option<(String, String)> {
    let signer = item.row.signer.as_deref()?;
    if signer == item.row.actor {
        return None;
    }
    let signer = Url::parse(signer).ok()?;
    let origin = Url::parse(&item.row.activity_id).ok()?;
    Some((host(&signer), host(&origin)))
}

/// Applies a forwarded row: the activity its origin serves at its id, or nothing.
pub(crate) fn apply_forwarded(
    view: &mut View,
    fetched: &Fetched,
    env: &Env,
    item: &ParsedRow,
) -> Outcome {
    let Ok(id) = Url::parse(&item.row.activity_id) else {
        return Outcome::failed(Rc::MalformedActivity, "the activity id is not a URL");
    };
    if env.urls.is_local(&id) {
        return unverified(format!(
            "{id} is ours; nobody forwards our activities to us"
        ));
    }
    if !view.allowed(&host(&id)) {
        return Outcome::ignored(
            Rc::PolicyBlocked,
            format!("{id} is on an instance our policy refuses"),
        );
    }
    let doc = match fetched.get(id.as_str()) {
        None => {
            view.looked_up.insert(id.to_string());
            return Outcome::Need(vec![id]);
        }
        Some(Err(f)) if f.transient => return Outcome::Retry(f.rc, f.message.clone()),
        Some(Err(f)) => return unverified(format!("its origin does not serve {id}: {f}")),
        Some(Ok(doc)) => doc,
    };
    let served = match Activity::parse(doc) {
        Ok(a) => a,
        Err(e) => return unverified(format!("{id} is served as no activity: {e}")),
    };
    if served.id != id
        || served.actor.as_str() != item.row.actor
        || host(&served.actor) != host(&id)
    {
        return unverified(format!(
            "{id} is served as {} by {}, not as forwarded by {}",
            served.id, served.actor, item.row.actor
        ));
    }
    let mut ctx = Ctx::new(view, fetched, env, item.row.id, doc);
    apply(&mut ctx, &served, &Via::Direct)
}

/// The activities forwarded rows' origins served so far, by row index: what they refer to
/// is looked up like any activity's.
pub(crate) fn served_activities(items: &[ParsedRow], fetched: &Fetched) -> Vec<(usize, Activity)> {
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| pair(item).is_some())
        .filter_map(
            |(i, item)| match fetched.get(item.row.activity_id.as_str()) {
                Some(Ok(doc)) => Activity::parse(doc).ok().map(|a| (i, a)),
                _ => None,
            },
        )
        .collect()
}

/// What a forwarded row's Announce embeds: the activity as its origin served it.
pub(crate) fn served<'a>(item: &'a ParsedRow, fetched: &'a Fetched) -> &'a Value {
    if pair(item).is_some()
        && let Some(Ok(doc)) = fetched.get(item.row.activity_id.as_str())
    {
        return doc;
    }
    &item.row.raw
}

fn unverified(msg: String) -> Outcome {
    Outcome::ignored(Rc::ForwardUnverified, msg)
}

/// Pairs whose forwards recently went unverified.
#[derive(Default)]
pub(crate) struct Unverified {
    since: HashMap<(String, String), Instant>,
}

impl Unverified {
    /// Before a chunk runs: forwards of a remembered pair, and those of a pair beyond
    /// [`PER_PAIR`] in this chunk, are answered in `fetched` by a transient failure (retried
    /// later, not fetched now).
    pub(crate) fn hold_back(&mut self, items: &[ParsedRow], fetched: &mut Fetched) {
        let now = Instant::now();
        self.since.retain(|_, t| now.duration_since(*t) < WINDOW);
        let mut per_pair: HashMap<(String, String), usize> = HashMap::new();
        for item in items {
            let Some(p) = pair(item) else { continue };
            if fetched.contains_key(&item.row.activity_id) {
                continue;
            }
            let n = per_pair.entry(p.clone()).or_default();
            *n += 1;
            let why = if self.since.contains_key(&p) {
                format!(
                    "forwards by {} for {} went unverified in the last {} s; retried later",
                    p.0,
                    p.1,
                    WINDOW.as_secs()
                )
            } else if *n > PER_PAIR {
                format!(
                    "more than {PER_PAIR} forwards by {} for {} in one batch; retried later",
                    p.0, p.1
                )
            } else {
                continue;
            };
            fetched.insert(
                item.row.activity_id.clone(),
                Err(FetchFailure {
                    rc: Rc::ForwardUnverified,
                    transient: true,
                    message: why,
                }),
            );
        }
    }

    /// After a chunk ran: the pairs of its unverified forwards are remembered.
    pub(crate) fn learn(&mut self, items: &[ParsedRow], steps: &[Outcome]) {
        let now = Instant::now();
        for (item, step) in items.iter().zip(steps) {
            if let (Some(p), Outcome::Ignored(Rc::ForwardUnverified, _)) = (pair(item), step) {
                if self.since.len() >= MAX_PAIRS
                    && let Some(oldest) = self.since.iter().min_by_key(|(_, t)| **t)
                {
                    let oldest = oldest.0.clone();
                    self.since.remove(&oldest);
                }
                self.since.entry(p).or_insert(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_db::ingest::journal::ClaimedActivity;

    fn forward(n: i64, signer: &str, origin: &str) -> ParsedRow {
        ParsedRow::new(ClaimedActivity {
            id: n,
            activity_id: format!("https://{origin}/activities/{n}"),
            actor: format!("https://{origin}/u/someone"),
            kind: "Like".into(),
            raw: serde_json::json!({}),
            received_at: chrono::Utc::now(),
            attempts: 1,
            signer: Some(format!("https://{signer}/u/fwd")),
            approved: Vec::new(),
        })
    }

    fn held(fetched: &Fetched) -> usize {
        fetched
            .values()
            .filter(|r| matches!(r, Err(f) if f.rc == Rc::ForwardUnverified && f.transient))
            .count()
    }

    #[test]
    fn unverified_pairs_fetch_a_few_then_nothing_for_a_while() {
        let mut items: Vec<ParsedRow> = (0..10)
            .map(|n| forward(n, "f.example", "h.example"))
            .collect();
        items.push(forward(10, "f.example", "other.example"));
        // A row signed by its own actor is no forward.
        let mut own = forward(11, "h.example", "h.example");
        own.row.signer = Some(own.row.actor.clone());
        items.push(own);
        assert!(pair(&items[11]).is_none());

        let mut memory = Unverified::default();
        let mut fetched = Fetched::new();
        memory.hold_back(&items, &mut fetched);
        assert_eq!(
            held(&fetched),
            10 - PER_PAIR,
            "beyond {PER_PAIR} a pair waits"
        );

        // One of the pair went unverified: the pair fetches nothing in the next chunk, the
        // other origin still does.
        let mut steps = vec![Outcome::unchanged(); items.len()];
        steps[0] = Outcome::ignored(Rc::ForwardUnverified, "not served");
        memory.learn(&items, &steps);
        let mut fetched = Fetched::new();
        memory.hold_back(&items, &mut fetched);
        assert_eq!(held(&fetched), 10);
        assert!(!fetched.contains_key(&items[10].row.activity_id));
    }
}
