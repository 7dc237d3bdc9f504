//! Instances: the sortable, searchable table of remote instances, and one instance's page
//! with its latency chart.

use crate::auth::Admin;
use crate::page::{self, Section};
use crate::{Console, chart, policies};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use maud::{Markup, html};
use sluice_apub::Rc;
use sluice_db::admin::InstanceRow;
use sluice_refusal::Refusal;
use sluice_trust::host::InstanceHost;
use std::cmp::Ordering;

/// Hours of latency the instance page charts, and the bucket width.
const CHART_HOURS: f64 = 6.0;
const CHART_BUCKET_SECS: f64 = 900.0;
/// Longest search string kept.
const QUERY_MAX_CHARS: usize = 100;

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
    ("policy", "Policy", |a, b| a.policy.cmp(&b.policy)),
    ("last", "Last received", |a, b| {
        a.last_received.cmp(&b.last_received)
    }),
    ("received", "Received / h", |a, b| {
        a.received_1h.cmp(&b.received_1h)
    }),
    ("failed", "Failed / h", |a, b| a.failed_1h.cmp(&b.failed_1h)),
    ("state", "Outbound", |a, b| a.out_state.cmp(&b.out_state)),
    ("lag", "Outbound lag", |a, b| {
        a.lag_activities.cmp(&b.lag_activities)
    }),
    ("success", "Last delivered", |a, b| {
        a.last_success_at.cmp(&b.last_success_at)
    }),
];

/// What the policy means for this instance, in words.
fn policy_words(r: &InstanceRow) -> &'static str {
    match (r.policy.as_str(), r.mode.as_str()) {
        ("block", _) => "blocked",
        ("allow", _) => "allowed",
        (_, "allowlist") => "refused (allow-list mode)",
        _ => "accepted (open mode)",
    }
}

fn policy_light(r: &InstanceRow) -> crate::Light {
    match policy_words(r) {
        "blocked" | "refused (allow-list mode)" => crate::Light::Amber,
        _ => crate::Light::Green,
    }
}

/// `GET /admin/instances`.
pub(crate) async fn list(
    console: web::Data<Console>,
    admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Refusal> {
    let mut rows = sluice_db::admin::instances(&console.db, None).await?;
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
        p.muted { (rows.len()) " instances. Inbound counts are journal rows of the last hour; refusals are not journaled, see the overview for them by rc." }
        div.scroll { table {
            thead { tr {
                @for (key, name, _) in COLUMNS { (heading(key, name)) }
                th scope="col" { "Next retry" } th scope="col" { "Last delivery error" }
            } }
            tbody { @for r in &rows { tr {
                td { a href={"/admin/instances/" (r.domain)} { (r.domain) } br; span.muted { (r.software.as_deref().unwrap_or("")) } }
                td { (page::light(policy_light(r))) " " (policy_words(r)) }
                td { (page::ago(r.last_received, now)) }
                td.n { (r.received_1h) }
                td.n { (r.failed_1h) }
                td { (r.out_state.as_deref().unwrap_or("-")) }
                td.n { (r.lag_activities) @if r.lag_activities > 0 { " (" (page::secs(r.lag_seconds)) ")" } }
                td { (page::ago(r.last_success_at, now)) }
                td { (page::until(r.next_retry_at, now)) }
                td { (r.last_error.as_deref().unwrap_or("")) }
            } } }
        } }
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
    let (rows, series) = futures::join!(
        sluice_db::admin::instances(&console.db, Some(domain.clone())),
        sluice_db::admin::latency(&console.db, domain.clone(), CHART_HOURS, CHART_BUCKET_SECS)
    );
    let row = rows?
        .into_iter()
        .next()
        .ok_or_else(|| Refusal::new(Rc::NotFound, "no such instance"))?;
    let series = series?;
    let now = Utc::now();
    let body = html! {
        h2 { "Policy" }
        p { (page::light(policy_light(&row))) " " (policy_words(&row))
            @if let Some(t) = row.policy_updated { " · set " (page::ago(Some(t), now)) }
            @if let Some(why) = &row.policy_reason { " · reason: " (why) } }
        (policies::instance_form(&admin, &row.domain))
        h2 { "Inbound, last hour" }
        dl {
            dt { "Activities journaled" } dd { (row.received_1h) }
            dt { "Of them failed" } dd { (row.failed_1h) }
            dt { "Last received" } dd { (page::ago(row.last_received, now)) }
            dt { "Software" } dd { (row.software.as_deref().unwrap_or("unknown")) }
        }
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
