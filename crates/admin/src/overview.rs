//! The overview: the doctor's verdicts and the live numbers, each with a light and a
//! one-line "what to do".

use crate::auth::Admin;
use crate::page::{self, Section};
use crate::{Console, Light, live};
use actix_web::{HttpResponse, http::header, web};
use maud::{Markup, html};
use sluice_refusal::Refusal;

/// How far back the processed count looks at received rows (`sluice_db::admin`).
const PROCESSED_WINDOW_SECS: f64 = 3300.0;

/// Most pending or failed rows counted (a bounded scan; "more than" past it).
const COUNT_CAP: i64 = 1_000_000;

/// One number on the overview.
struct Card {
    title: &'static str,
    value: String,
    light: Light,
    todo: String,
}

/// `GET /admin` (the login page when not logged in).
pub(crate) async fn page(
    console: web::Data<Console>,
    admin: Option<Admin>,
) -> Result<HttpResponse, Refusal> {
    let Some(admin) = admin else {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/admin/login"))
            .finish());
    };
    let (health, verdicts) = futures::join!(
        sluice_db::admin::journal_health(&console.db, COUNT_CAP),
        console.doctor.verdicts()
    );
    let health = health?;
    let cards = cards(&console, &health);
    let refusals = live::refusals();
    let body = html! {
        h2 { "Live numbers" }
        div.cards { @for c in &cards { (card(c)) } }
        h2 { "Setup checks (sluice doctor)" }
        div.scroll { table {
            thead { tr { th scope="col" { "State" } th scope="col" { "Check" } th scope="col" { "What it means, what to do" } } }
            tbody { @for v in &verdicts {
                tr { td { (page::light(v.light)) } td { (v.name) } td { (v.message) } }
            } }
        } }
        h2 { "Inbox refusals by rc (this process, since start)" }
        @if refusals.is_empty() {
            p.muted { "None." }
        } @else {
            div.scroll { table {
                thead { tr { th scope="col" { "rc" } th scope="col" { "Refused" } } }
                tbody { @for (rc, n) in &refusals { tr { td { (rc) } td.n { (n) } } } }
            } }
            p.todo { "docs/errors.md says what each code means and who has to act." }
        }
    };
    Ok(page::frame(
        &admin,
        Section::Overview,
        "Federation health",
        Some(30),
        body,
    ))
}

fn card(c: &Card) -> Markup {
    html! {
        section.card aria-label=(c.title) {
            div { (page::light(c.light)) " " (c.title) }
            b { (c.value) }
            p.todo { (c.todo) }
        }
    }
}

fn cards(console: &Console, h: &sluice_db::admin::JournalHealth) -> Vec<Card> {
    let mut out = Vec::new();
    let inbound = h.received_5m as f64 / 300.0;
    out.push(Card {
        title: "Inbound (last 5 min)",
        value: format!("{inbound:.1} activities/s"),
        light: if h.received_5m == 0 && h.instances > 0 {
            Light::Amber
        } else {
            Light::Green
        },
        todo: if h.received_5m == 0 && h.instances > 0 {
            "Nothing arrived for 5 minutes: check that peers reach this server (DNS, reverse proxy, TLS).".into()
        } else {
            "Nothing to do.".into()
        },
    });
    out.push(match live::ack_latency() {
        None => Card {
            title: "Acknowledgement latency",
            value: "no activity yet".into(),
            light: Light::Green,
            todo: "Measured by this process since it started.".into(),
        },
        Some((p50, p99, n)) => {
            // Lemmy's serial sender waits for each answer and gives up at 10 s.
            let light = if p99 >= 5.0 {
                Light::Red
            } else if p99 >= 1.0 {
                Light::Amber
            } else {
                Light::Green
            };
            Card {
                title: "Acknowledgement latency",
                value: format!("p50 ≤ {}, p99 ≤ {}", page::secs(p50), page::secs(p99)),
                light,
                todo: match light {
                    Light::Green => format!("{n} acknowledged by this process. Nothing to do."),
                    _ => "A serial sender delivers at most one activity per acknowledgement: check the database round-trip below and the pool.".into(),
                },
            }
        }
    });
    let lag = h.lag_seconds.unwrap_or(0.0);
    let depth_light = level(
        h.depth as f64,
        console.backpressure_depth as f64 / 10.0,
        console.backpressure_depth as f64,
    )
    .max(level(
        lag,
        console.backpressure_lag_secs as f64 / 10.0,
        console.backpressure_lag_secs as f64,
    ));
    out.push(Card {
        title: "Journal depth and lag",
        value: format!(
            "{}{} waiting, oldest {}",
            if h.depth >= COUNT_CAP { "> " } else { "" },
            h.depth,
            page::secs(lag)
        ),
        light: depth_light,
        todo: match depth_light {
            Light::Green => "Nothing to do.".into(),
            Light::Amber => "The pipeline is behind: check processed/s, failed rows and the database checks.".into(),
            Light::Red => "At the back-pressure limit senders get 429: add pipeline workers or fix the database latency.".into(),
        },
    });
    // The count reads rows received in the last hour (the time index); rows older than
    // that, finished now, are not seen, so a backlog older than the hour shows no rate.
    let processed = h.processed_5m as f64 / 300.0;
    let old_backlog = lag > PROCESSED_WINDOW_SECS;
    let stalled = h.depth > 0 && h.processed_5m == 0;
    out.push(Card {
        title: "Pipeline processed (last 5 min)",
        value: if old_backlog {
            "not counted".into()
        } else {
            format!("{processed:.1} activities/s")
        },
        light: match (old_backlog, stalled) {
            (true, _) => Light::Amber,
            (false, true) => Light::Red,
            (false, false) => Light::Green,
        },
        todo: match (old_backlog, stalled) {
            (true, _) => "The backlog is older than the hour this rate counts: watch the journal lag shrink instead.".into(),
            (false, true) => "Activities wait and none was processed for 5 minutes: is pipeline_enabled on in some process? Check its log.".into(),
            (false, false) => "Nothing to do.".into(),
        },
    });
    out.push(Card {
        title: "Failed activities",
        value: format!(
            "{}{}",
            if h.failed >= COUNT_CAP { "> " } else { "" },
            h.failed
        ),
        light: level(h.failed as f64, 1.0, 1000.0),
        todo: if h.failed == 0 {
            "Nothing to do.".into()
        } else {
            "See Journal: fix the cause the rc names, then replay.".into()
        },
    });
    out.push(Card {
        title: "Held for review",
        value: format!("{}{}", if h.held >= COUNT_CAP { "> " } else { "" }, h.held),
        light: level(h.held as f64, 1.0, 1000.0),
        todo: if h.held == 0 {
            "Nothing to do.".into()
        } else {
            "A policy holds these: approve or reject them on the Journal page.".into()
        },
    });
    out.push(Card {
        title: "Federation mode",
        value: format!("{}, {} instances known", h.mode, h.instances),
        light: Light::Green,
        todo: "Change it under Policies.".into(),
    });
    out
}

/// Green below `amber`, amber below `red`, red from there.
fn level(value: f64, amber: f64, red: f64) -> Light {
    if value >= red {
        Light::Red
    } else if value >= amber {
        Light::Amber
    } else {
        Light::Green
    }
}
