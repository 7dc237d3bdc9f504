//! Instances: the sortable, searchable table of remote instances, and one instance's page
//! with its latency chart.

use crate::auth::Admin;
use crate::origin;
use crate::page::{self, Section};
use crate::{Console, Light, chart, policies};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use maud::{Markup, html};
use sluice_apub::Rc;
use sluice_db::admin::InstanceRow;
use sluice_refusal::Refusal;
use sluice_trust::host::InstanceHost;
use sluice_trust::instances::{Decision, Policies};
use std::cmp::Ordering;

/// Hours of latency the instance page charts, and the bucket width.
const CHART_HOURS: f64 = 6.0;
const CHART_BUCKET_SECS: f64 = 900.0;
/// Longest search string kept.
const QUERY_MAX_CHARS: usize = 100;

/// What the refusal counts cover, said on both pages.
const REFUSALS_NOTE: &str = "Refusals are counted since the start of the previous clock hour \
    (each process adds its counts every `inbox_refusal_flush_s`, a minute by default), by the host of the activity's actor: a \
    request refused before its body was parsed (too large, not JSON, wrong media type, back \
    pressure) names no actor and counts under no instance; the overview has those, for \
    this process, by rc.";

/// Refusal rows read for the hosts without an instance row, and how many are shown.
const UNKNOWN_REFUSALS_READ: i64 = 500;
const UNKNOWN_REFUSALS_SHOWN: usize = 20;

/// The list's query string: `sort`, `dir` (`asc`/`desc`), `q` (a search in domains).
#[derive(serde::Deserialize, Default)]
pub(crate) struct ListQuery {
    sort: Option<String>,
    dir: Option<String>,
    q: Option<String>,
}

/// The sortable columns: key in the query string, heading, order.
type Order = fn(&InstanceRow, &InstanceRow) -> Ordering;
const COLUMNS: &[(&str, &str, Order)] = &[
    ("domain", "Instance", |a, b| a.domain.cmp(&b.domain)),
    ("policy", "Policy", |a, b| a.rule.policy.cmp(&b.rule.policy)),
    ("last", "Last received", |a, b| {
        a.last_received.cmp(&b.last_received)
    }),
    ("received", "Received / h", |a, b| {
        a.received_1h.cmp(&b.received_1h)
    }),
    ("failed", "Failed / h", |a, b| a.failed_1h.cmp(&b.failed_1h)),
    ("refused", "Refused by rc", |a, b| {
        a.refused_1h.cmp(&b.refused_1h)
    }),
    ("state", "Outbound", |a, b| a.out_state.cmp(&b.out_state)),
    ("lag", "Outbound lag", |a, b| {
        a.lag_activities.cmp(&b.lag_activities)
    }),
    ("success", "Last delivered", |a, b| {
        a.last_success_at.cmp(&b.last_success_at)
    }),
];

/// What the inbox decides for this instance, in words, and where the rule came from: the
/// same decision table every stage builds (`sluice_db::instances::decision_table`), so a
/// block of a parent domain shows on its subdomains.
fn policy(r: &InstanceRow, table: &Policies) -> (Light, &'static str) {
    match (table.decide_str(&r.domain), r.rule.policy.as_str()) {
        (Decision::Blocked, "block") => (Light::Amber, "blocked (rule on this domain)"),
        (Decision::Blocked, _) => (Light::Amber, "blocked (rule on a parent domain)"),
        (Decision::NotAllowed, _) => (Light::Amber, "refused (allow-list mode, not listed)"),
        (Decision::Unidentifiable, _) => (Light::Amber, "refused (not a valid host)"),
        (Decision::Admitted, "allow") => (Light::Green, "allowed (rule on this domain)"),
        (Decision::Admitted, _) => (Light::Green, "accepted (open mode)"),
    }
}

/// Where this domain's own rule came from (none without one).
fn origin(r: &InstanceRow) -> Option<String> {
    (r.rule.policy != "none").then(|| origin::words(&r.rule))
}

fn policy_cell(r: &InstanceRow, table: &Policies) -> Markup {
    let (light, words) = policy(r, table);
    html! {
        (page::light(light)) " " (words)
        @if let Some(o) = origin(r) { br; span.muted.origin { (o) } }
    }
}

/// The refusals attributed to an instance: `rc n, rc n` with their total.
fn refusals_cell(r: &InstanceRow) -> Markup {
    html! {
        @match &r.refusals {
            Some(list) => span.refusals title=(list) { (r.refused_1h) ": " (list) },
            None => "0",
        }
    }
}

/// `GET /admin/instances`.
pub(crate) async fn list(
    console: web::Data<Console>,
    admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Refusal> {
    let (rows, snapshot, refused) = futures::join!(
        sluice_db::admin::instances(&console.db, None),
        sluice_db::instances::load_policy(&console.db),
        sluice_db::refusals::recent(&console.db, UNKNOWN_REFUSALS_READ)
    );
    let (mut rows, table) = (rows?, snapshot?.policies());
    // Refused hosts the instance table does not know (every request refused before a key
    // was fetched, or `(other)`): listed apart, the most refused first.
    let known: std::collections::HashSet<&str> = rows.iter().map(|r| r.domain.as_str()).collect();
    let unknown: Vec<_> = refused?
        .into_iter()
        .filter(|c| !known.contains(c.domain.as_str()))
        .take(UNKNOWN_REFUSALS_SHOWN)
        .collect();
    drop(known);
    let search: String = query
        .q
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_lowercase()
        .chars()
        .take(QUERY_MAX_CHARS)
        .collect();
    if !search.is_empty() {
        rows.retain(|r| r.domain.contains(&search));
    }
    let sort = query.sort.as_deref().unwrap_or("domain");
    let (sort, _, order) = COLUMNS
        .iter()
        .find(|(key, _, _)| *key == sort)
        .unwrap_or(&COLUMNS[0]);
    let descending = query.dir.as_deref() == Some("desc");
    rows.sort_by(|a, b| {
        let o = order(a, b).then_with(|| a.domain.cmp(&b.domain));
        if descending { o.reverse() } else { o }
    });
    let now = Utc::now();
    let heading = |key: &str, name: &str| -> Markup {
        let next = if key == *sort && !descending {
            "desc"
        } else {
            "asc"
        };
        let aria = match (key == *sort, descending) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        };
        html! {
            th scope="col" aria-sort=(aria) {
                a href={"/admin/instances?sort=" (key) "&dir=" (next) "&q=" (urlencode(&search))} { (name) }
            }
        }
    };
    let body = html! {
        form method="get" action="/admin/instances" role="search" {
            label for="q" { "Search instances" }
            input #q type="search" name="q" value=(search) maxlength="100";
            input type="hidden" name="sort" value=(sort);
            " " button type="submit" { "Search" }
        }
        p.muted { (rows.len()) " instances. Inbound counts are journal rows of the last hour. "
            (REFUSALS_NOTE) }
        div.scroll { table {
            thead { tr {
                @for (key, name, _) in COLUMNS { (heading(key, name)) }
                th scope="col" { "Next retry" } th scope="col" { "Last delivery error" }
            } }
            tbody { @for r in &rows { tr {
                td { a href={"/admin/instances/" (r.domain)} { (r.domain) } br; span.muted { (r.software.as_deref().unwrap_or("")) } }
                td { (policy_cell(r, &table)) }
                td { (page::ago(r.last_received, now)) }
                td.n { (r.received_1h) }
                td.n { (r.failed_1h) }
                td { (refusals_cell(r)) }
                td { (r.out_state.as_deref().unwrap_or("-")) }
                td.n { (r.lag_activities) @if r.lag_activities > 0 { " (" (page::secs(r.lag_seconds)) ")" } }
                td { (page::ago(r.last_success_at, now)) }
                td { (page::until(r.next_retry_at, now)) }
                td { (r.last_error.as_deref().unwrap_or("")) }
            } } }
        } }
        h2 { "Refused hosts not known as instances" }
        @if unknown.is_empty() {
            p.muted { "None since the start of the previous hour." }
        } @else {
            p.muted { "Hosts named by refused requests that sluice has no instance row for (\"(other)\" counts the hosts beyond each process's bound between two writes), most refused first." }
            div.scroll { table {
                thead { tr { th scope="col" { "Host" } th scope="col" { "rc" } th scope="col" { "Refused" } } }
                tbody { @for u in &unknown { tr {
                    td { (u.domain) } td { (u.rc) } td.n { (u.count) }
                } } }
            } }
        }
    };
    Ok(page::frame(
        &admin,
        Section::Instances,
        "Instances",
        None,
        body,
    ))
}

/// Percent-encodes a search string for a link (maud escapes it for HTML on top).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /admin/instances/{domain}`.
pub(crate) async fn detail(
    console: web::Data<Console>,
    admin: Admin,
    domain: web::Path<String>,
) -> Result<HttpResponse, Refusal> {
    let host = InstanceHost::parse(&domain)
        .map_err(|e| Refusal::new(Rc::BadRequest, format!("not an instance: {e}")))?;
    let domain = host.as_str().to_string();
    let (rows, series, snapshot) = futures::join!(
        sluice_db::admin::instances(&console.db, Some(domain.clone())),
        sluice_db::admin::latency(&console.db, domain.clone(), CHART_HOURS, CHART_BUCKET_SECS),
        sluice_db::instances::load_policy(&console.db)
    );
    let table = snapshot?.policies();
    let row = rows?
        .into_iter()
        .next()
        .ok_or_else(|| Refusal::new(Rc::NotFound, "no such instance"))?;
    let series = series?;
    let now = Utc::now();
    let body = html! {
        h2 { "Policy" }
        p { (policy_cell(&row, &table))
            @if let Some(t) = row.rule.policy_updated { " · set " (page::ago(Some(t), now)) } }
        (policies::instance_form(&admin, &row.domain))
        h2 { "Inbound, last hour" }
        dl {
            dt { "Activities journaled" } dd { (row.received_1h) }
            dt { "Of them failed" } dd { (row.failed_1h) }
            dt { "Refused, by rc" } dd { (refusals_cell(&row)) }
            dt { "Last received" } dd { (page::ago(row.last_received, now)) }
            dt { "Software" } dd { (row.software.as_deref().unwrap_or("unknown")) }
        }
        p.muted { (REFUSALS_NOTE) }
        h2 { "Receipt to applied, last " (CHART_HOURS) " hours" }
        p.muted { "From the journal: per 15 minutes, the time from an activity's acknowledgement to its rows being written (p50 and p99), for this instance's activities." }
        (chart::latency(&row.domain, &series, CHART_HOURS * 3600.0))
        h2 { "Outbound" }
        dl {
            dt { "State" } dd { (row.out_state.as_deref().unwrap_or("nothing sent yet")) }
            dt { "Lag" } dd { (row.lag_activities) " activities" @if row.lag_activities > 0 { ", oldest " (page::secs(row.lag_seconds)) } }
            dt { "Last delivered" } dd { (page::ago(row.last_success_at, now)) }
            dt { "Failures in a row" } dd { (row.fail_count) }
            dt { "Next retry" } dd { (page::until(row.next_retry_at, now)) }
            dt { "Last error" } dd { (row.last_error.as_deref().unwrap_or("-")) }
        }
    };
    Ok(page::frame(
        &admin,
        Section::Instances,
        &row.domain,
        None,
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::policy;
    use sluice_db::admin::{InstanceRow, PolicyRule};
    use sluice_db::instances::{Mode, Policy, decision_table};

    fn row(domain: &str, policy: &str) -> InstanceRow {
        InstanceRow {
            domain: domain.into(),
            software: None,
            rule: PolicyRule {
                policy: policy.into(),
                policy_reason: None,
                policy_updated: None,
                policy_source: "manual".into(),
                policy_source_detail: None,
                policy_by: None,
            },
            refusals: None,
            refused_1h: 0,
            received_1h: 0,
            last_received: None,
            failed_1h: 0,
            out_state: None,
            lag_activities: 0,
            lag_seconds: 0.0,
            last_success_at: None,
            last_error: None,
            next_retry_at: None,
            fail_count: 0,
        }
    }

    #[test]
    fn the_policy_shown_is_the_inbox_decision_with_its_origin() {
        let open = decision_table(
            Mode::Open,
            [
                ("example.com", Policy::Block),
                ("friend.example", Policy::Allow),
            ],
        );
        let words = |d: &str, p: &str, t| policy(&row(d, p), t).1;
        assert_eq!(
            words("example.com", "block", &open),
            "blocked (rule on this domain)"
        );
        assert_eq!(
            words("lemmy.example.com", "none", &open),
            "blocked (rule on a parent domain)"
        );
        assert_eq!(
            words("other.example", "none", &open),
            "accepted (open mode)"
        );
        let listed = decision_table(Mode::Allowlist, [("friend.example", Policy::Allow)]);
        assert_eq!(
            words("friend.example", "allow", &listed),
            "allowed (rule on this domain)"
        );
        assert_eq!(
            words("other.example", "none", &listed),
            "refused (allow-list mode, not listed)"
        );
    }
}
