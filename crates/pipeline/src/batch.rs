//! The stages of one batch after the claim: parse → look up → fetch what is missing →
//! apply in order → the changes to write.
//!
//! Planning runs the activities against a copy of the view to learn what they are missing;
//! missing ids are looked up in the database first (one round-trip for all of them), and
//! what is still missing is fetched, concurrently and once per URL. Fetched documents can
//! refer to more unknown things (a reply's parent, a post's community), so planning repeats,
//! up to `fetch_rounds` times. A batch whose references are all known plans once and needs
//! no round-trip beyond the first lookup. Fetches are budgeted per activity and per batch
//! (`Budget`): a hostile document cannot make one activity cost thousands of requests.

use crate::apply::{Via, apply};
use crate::ctx::{Ctx, Env, Fetched};
use crate::fetch::{Fetch, FetchFailure};
use crate::forwarded;
use crate::outcome::Outcome;
use crate::policy;
use crate::references::Collector;
use crate::relay;
use crate::view::View;
use futures::{FutureExt, StreamExt};
use sluice_apub::Rc;
use sluice_apub::vocab::{Activity, AnnounceObject, Object, ObjectRef, ParseError, Verb, host};
use sluice_db::ingest::journal::ClaimedActivity;
use sluice_db::ingest::lookup::{Keys, lookup};
use sluice_db::instances;
use sluice_db::policy_cache::PolicyCache;
use sluice_db::{Conn, DbError};
use std::collections::{BTreeSet, HashSet};
use std::time::Instant;
use url::Url;

/// A claimed row and its parsed activity.
pub(crate) struct ParsedRow {
    pub row: ClaimedActivity,
    pub parsed: Result<Activity, ParseError>,
}

impl ParsedRow {
    pub(crate) fn new(row: ClaimedActivity) -> ParsedRow {
        let parsed = Activity::parse(&row.raw);
        ParsedRow { row, parsed }
    }
}

async fn look_up(
    conn: &mut Conn,
    view: &mut View,
    policy: &PolicyCache,
    keys: Keys,
) -> Result<(), DbError> {
    if keys.is_empty() {
        return Ok(());
    }
    // The policy rows come in the lookup's flight when `policy_generation` moved past the
    // one held: a change takes effect at the next lookup, at no extra round-trip.
    let (k, known) = (keys.clone(), policy.generation());
    let mut snap = conn
        .run("ingest_lookup", move |c| {
            async move { lookup(c, &k, known).await }.boxed()
        })
        .await?;
    if let Some(rows) = snap.policy.take() {
        policy.set(
            rows.generation,
            instances::decision_table(
                instances::Mode::parse(&rows.mode),
                rows.instances
                    .iter()
                    .map(|i| (i.domain.as_str(), instances::Policy::parse(&i.policy))),
            ),
        );
    }
    view.policies = policy.policies();
    view.absorb(&keys, snap);
    Ok(())
}

/// Ids of content embedded in the batch: its own activities will create them, so they are
/// never fetched for the others.
fn provided(items: &[ParsedRow]) -> HashSet<String> {
    fn walk(a: &Activity, out: &mut HashSet<String>) {
        match &a.verb {
            Verb::Create(ObjectRef::Embedded(o)) | Verb::Update(ObjectRef::Embedded(o)) => {
                if let Object::Content(c) = &**o {
                    out.insert(c.id.to_string());
                }
            }
            Verb::Announce(AnnounceObject::Activity(i)) => walk(i, out),
            _ => {}
        }
    }
    let mut out = HashSet::new();
    for a in trusted(items) {
        walk(a, &mut out);
    }
    out
}

/// The parsed activities of the rows whose body counts as sent: a forwarded row's body is
/// what its forwarder says, so nothing is looked up or provided for it (only its origin's
/// copy counts).
fn trusted(items: &[ParsedRow]) -> impl Iterator<Item = &Activity> {
    items
        .iter()
        .filter(|i| forwarded::pair(i).is_none())
        .filter_map(|i| i.parsed.as_ref().ok())
}

fn apply_item(view: &mut View, fetched: &Fetched, env: &Env, item: &ParsedRow) -> Outcome {
    if forwarded::pair(item).is_some() {
        return forwarded::apply_forwarded(view, fetched, env, item);
    }
    let a = match &item.parsed {
        Ok(a) => a,
        Err(e) => return Outcome::failed(Rc::MalformedActivity, e.to_string()),
    };
    let verified = Url::parse(&item.row.actor).map(|u| host(&u));
    if verified.as_ref().ok() != Some(&host(&a.actor)) {
        return Outcome::failed(
            Rc::HostMismatch,
            format!("{} is not the verified sender {}", a.actor, item.row.actor),
        );
    }
    let mut ctx = Ctx::new(view, fetched, env, item.row.id, &item.row.raw);
    apply(&mut ctx, a, &Via::Direct)
}

/// Fetches `urls` concurrently (at most `fetch_concurrency` at once), each bounded by the
/// fetch timeout.
async fn fetch_all(env: &Env, fetcher: &dyn Fetch, urls: Vec<Url>, fetched: &mut Fetched) {
    let timeout = env.settings.fetch_timeout;
    let start = Instant::now();
    let results: Vec<(String, Result<serde_json::Value, FetchFailure>)> =
        futures::stream::iter(urls)
            .map(|u| async move {
                let r = match tokio::time::timeout(timeout, fetcher.fetch_json(&u)).await {
                    Ok(r) => r,
                    Err(_) => Err(FetchFailure::timeout(format!(
                        "GET {u}: no answer within {} s",
                        timeout.as_secs_f64()
                    ))),
                };
                if let Err(f) = &r {
                    tracing::debug!(url = %u, rc = %f.rc, error = %f.message, "fetch failed");
                }
                (u.to_string(), r)
            })
            .buffer_unordered(env.settings.fetch_concurrency.max(1))
            .collect()
            .await;
    sluice_metrics::spend::add_net(start.elapsed());
    fetched.extend(results);
}

/// What each activity still misses (by its index), by a pass over a copy of the view.
/// Deferred activities are left out: nothing more is fetched for them in this batch.
fn plan(
    view: &View,
    fetched: &Fetched,
    env: &Env,
    items: &[ParsedRow],
    budget: &Budget,
    ended: &[bool],
) -> Vec<(usize, BTreeSet<String>)> {
    let provided = provided(items);
    let mut scratch = view.clone();
    let mut needs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if budget.deferred(i) || ended.get(i).copied().unwrap_or(false) {
            continue;
        }
        if let Outcome::Need(urls) = apply_item(&mut scratch, fetched, env, item) {
            let urls: BTreeSet<String> = urls
                .into_iter()
                .map(|u| u.to_string())
                .filter(|u| !provided.contains(u) || *u == item.row.activity_id)
                .collect();
            if !urls.is_empty() {
                needs.push((i, urls));
            }
        }
    }
    needs
}

/// Remote fetches one activity and one batch may cause. An activity whose next fetches
/// would pass its own budget, or the batch's, gets none of them: it is deferred, ends
/// `FetchBudget` and is retried in the slow lane, while the rest of the batch goes on.
struct Budget {
    per_activity: usize,
    left: usize,
    spent: Vec<usize>,
    deferred: Vec<bool>,
}

impl Budget {
    fn new(env: &Env, items: usize) -> Budget {
        Budget {
            per_activity: env.settings.fetch_per_activity,
            left: env.settings.fetch_per_batch,
            spent: vec![0; items],
            deferred: vec![false; items],
        }
    }

    fn deferred(&self, i: usize) -> bool {
        self.deferred.get(i).copied().unwrap_or(false)
    }

    /// Grants activity `i` `n` more fetches, or defers it.
    fn take(&mut self, i: usize, n: usize) -> bool {
        let Some(spent) = self.spent.get_mut(i) else {
            return false;
        };
        if *spent + n > self.per_activity || n > self.left {
            if let Some(d) = self.deferred.get_mut(i) {
                *d = true;
            }
            return false;
        }
        *spent += n;
        self.left -= n;
        true
    }
}

/// Runs the stages for `items`; returns one step per item (in order) and the view to
/// write. Fetches are cached in `fetched` across calls (a batch split after a failed
/// write does not fetch again).
pub(crate) async fn run(
    conn: &mut Conn,
    env: &Env,
    fetcher: &dyn Fetch,
    fetched: &mut Fetched,
    policy: &PolicyCache,
    items: &[ParsedRow],
) -> Result<(Vec<Outcome>, View), DbError> {
    let mut view = View {
        policies: policy.policies(),
        ..View::default()
    };
    let mut keys = Collector::default();
    for a in trusted(items) {
        keys.activity(a);
    }
    look_up(conn, &mut view, policy, keys.finish()).await?;

    // The admin's chain, as it is now; rows it already ends cause no fetch.
    let chain = env.settings.policies.current();
    let facts = policy::batch_facts(&view, &env.settings.instance_ages);
    let ended: Vec<bool> = items
        .iter()
        .map(|i| policy::ends_early(&chain, &env.urls, i, fetched, &view, &facts))
        .collect();
    let mut budget = Budget::new(env, items.len());
    let mut keyed = HashSet::new();
    for _ in 0..env.settings.fetch_rounds {
        look_up_served(conn, &mut view, policy, fetched, items, &mut keyed).await?;
        let needs = plan(&view, fetched, env, items, &budget, &ended);
        if needs.is_empty() {
            break;
        }
        let mut more = Collector::default();
        for n in needs.iter().flat_map(|(_, n)| n) {
            if !view.looked_up.contains(n)
                && let Ok(u) = Url::parse(n)
            {
                more.url(&u);
            }
        }
        let more = more.finish();
        let looked = !more.is_empty();
        look_up(conn, &mut view, policy, more).await?;
        // Fetches are granted in journal order; a URL two activities need counts once.
        let mut to_fetch: Vec<Url> = Vec::new();
        let mut granted: HashSet<String> = HashSet::new();
        for (i, urls) in &needs {
            let new: Vec<Url> = urls
                .iter()
                .filter(|n| !fetched.contains_key(*n) && !knows(&view, n))
                .filter(|n| !granted.contains(*n))
                .filter_map(|n| Url::parse(n).ok())
                .filter(|u| !env.urls.is_local(u) && view.allowed(&host(u)))
                .collect();
            if new.is_empty() || !budget.take(*i, new.len()) {
                continue;
            }
            granted.extend(new.iter().map(Url::to_string));
            to_fetch.extend(new);
        }
        if to_fetch.is_empty() && !looked {
            break;
        }
        fetch_all(env, fetcher, to_fetch, fetched).await;
    }
    look_up_served(conn, &mut view, policy, fetched, items, &mut keyed).await?;

    // The policy table as the last lookup left it.
    let facts = policy::batch_facts(&view, &env.settings.instance_ages);
    let mut steps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let judged = policy::judge(&chain, &env.urls, item, fetched, &view, &facts);
        let applied = judged
            .as_ref()
            .and_then(|j| j.rewritten.as_ref())
            .unwrap_or(item);
        let step = judged.as_ref().and_then(policy::Judged::step);
        let step = match step.unwrap_or_else(|| apply_item(&mut view, fetched, env, applied)) {
            Outcome::Need(_) if budget.deferred(i) => Outcome::Retry(
                Rc::FetchBudget,
                format!(
                    "needs more than {} remote fetches (or its batch's {}); deferred",
                    env.settings.fetch_per_activity, env.settings.fetch_per_batch
                ),
            ),
            Outcome::Need(urls) => unresolved(&urls, fetched),
            s => s,
        };
        let relays = judged.as_ref().is_none_or(|j| j.outcome.relay);
        if let Outcome::Done {
            changed: true,
            relay: Some(community),
        } = &step
            && relays
        {
            // What the chain let through, as it let it through (rewritten or not).
            let body = match judged.as_ref().and_then(|j| j.rewritten.as_ref()) {
                Some(rewritten) => &rewritten.row.raw,
                None => forwarded::served(item, fetched),
            };
            view.outbound
                .push(relay::announce(&env.urls, community, body));
        }
        // Decisions are recorded once, with the row's final step (not at each retry).
        if let Some(j) = &judged
            && !matches!(step, Outcome::Retry(..) | Outcome::Need(_))
        {
            policy::record(&mut view.decisions, item, &j.outcome);
        }
        steps.push(step);
    }
    Ok((steps, view))
}

/// Looks up what the activities served for forwarded rows refer to, once per row (their
/// forwarders' copies were not looked up: only the origin's counts).
async fn look_up_served(
    conn: &mut Conn,
    view: &mut View,
    policy: &PolicyCache,
    fetched: &Fetched,
    items: &[ParsedRow],
    keyed: &mut HashSet<usize>,
) -> Result<(), DbError> {
    let mut keys = Collector::default();
    for (i, a) in forwarded::served_activities(items, fetched) {
        if keyed.insert(i) {
            keys.activity(&a);
        }
    }
    look_up(conn, view, policy, keys.finish()).await
}

fn knows(view: &View, id: &str) -> bool {
    let id = view.canonical(id);
    view.persons.contains_key(id)
        || view.communities.contains_key(id)
        || view.posts.contains_key(id)
        || view.comments.contains_key(id)
        || view.messages.contains_key(id)
}

/// The step for an activity still missing something after the last round: the fetch
/// failure when there was one, else another attempt later.
fn unresolved(urls: &[Url], fetched: &Fetched) -> Outcome {
    for u in urls {
        if let Some(Err(f)) = fetched.get(u.as_str()) {
            return crate::outcome::Miss::Failed(u.clone(), f.clone()).step();
        }
    }
    let list: Vec<&str> = urls.iter().map(Url::as_str).collect();
    Outcome::Retry(
        Rc::UnknownObject,
        format!("still unresolved: {}", list.join(", ")),
    )
}
