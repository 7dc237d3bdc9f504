//! Journal: failed activities with their rc, message and raw JSON, and a replay button
//! (what `sluice journal replay ID` does); activities a policy holds, with approve and
//! reject buttons (what `sluice review approve|reject ID` do).

use crate::Console;
use crate::auth::Admin;
use crate::page::{self, Section};
use actix_web::{HttpResponse, http::header, web};
use chrono::Utc;
use maud::html;
use sluice_apub::Rc;
use sluice_db::admin::FailedActivity;
use sluice_refusal::Refusal;

/// Failed rows shown, newest first.
const ROWS: i64 = 100;

/// `GET /admin/journal`.
pub(crate) async fn page(
    console: web::Data<Console>,
    admin: Admin,
) -> Result<HttpResponse, Refusal> {
    let failed = sluice_db::admin::failed(&console.db, ROWS).await?;
    let held = sluice_db::review::list_held(&console.db, ROWS).await?;
    let now = Utc::now();
    let body = html! {
        h2 { "Failed activities" }
        p.muted { "The pipeline gave up on these (the newest " (ROWS) "). Fix what the rc names (docs/errors.md), then replay: the row goes back to pending with a fresh attempt budget." }
        @if failed.is_empty() {
            p { "None." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "Received" } th scope="col" { "Type" }
                    th scope="col" { "Actor" } th scope="col" { "rc" } th scope="col" { "Message" }
                    th scope="col" { "Attempts" } th scope="col" { "" }
                } }
                tbody { @for FailedActivity { listed: f, raw } in &failed {
                    tr {
                        td.n { (f.head.id) }
                        td { (page::ago(Some(f.head.received_at), now)) }
                        td { (f.head.kind) }
                        td { (f.head.actor) }
                        td { (f.error_code.as_deref().unwrap_or("-")) }
                        td { (f.error.as_deref().unwrap_or("")) }
                        td.n { (f.attempts) }
                        td { form.inline method="post" action="/admin/journal/replay" {
                            input type="hidden" name="csrf" value=(admin.csrf);
                            input type="hidden" name="id" value=(f.head.id);
                            button type="submit" aria-label={"Replay activity " (f.head.id)} { "Replay" }
                        } }
                    }
                    tr { td colspan="8" {
                        details {
                            summary { "Raw JSON of " (f.head.activity_id) }
                            pre { (raw) }
                        }
                    } }
                } }
            } }
        }
        h2 { "Held for review" }
        p.muted { "A policy of the chain holds these (docs/policies.md). Approve: applied, skipping the policy that held it. Reject: ignored (ReviewRejected), replayable." }
        @if held.is_empty() {
            p { "None." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "Received" } th scope="col" { "Type" }
                    th scope="col" { "Actor" } th scope="col" { "Policy" } th scope="col" { "Why" }
                    th scope="col" { "" }
                } }
                tbody { @for h in &held {
                    tr {
                        td.n { (h.head.id) }
                        td { (page::ago(Some(h.head.received_at), now)) }
                        td { (h.head.kind) }
                        td { (h.head.actor) }
                        td { (h.policy.as_deref().unwrap_or("-")) }
                        td { (h.reason.as_deref().unwrap_or("")) }
                        td {
                            @for (action, label) in [("approve", "Approve"), ("reject", "Reject")] {
                                form.inline method="post" action={"/admin/journal/" (action)} {
                                    input type="hidden" name="csrf" value=(admin.csrf);
                                    input type="hidden" name="id" value=(h.head.id);
                                    button type="submit" aria-label={(label) " held activity " (h.head.id)} { (label) }
                                }
                            }
                        }
                    }
                } }
            } }
        }
    };
    Ok(page::frame(&admin, Section::Journal, "Journal", None, body))
}

/// The replay form.
#[derive(serde::Deserialize)]
pub(crate) struct Replay {
    csrf: String,
    id: i64,
}

/// `POST /admin/journal/replay`.
pub(crate) async fn replay(
    console: web::Data<Console>,
    admin: Admin,
    form: web::Form<Replay>,
) -> Result<HttpResponse, Refusal> {
    admin.check_csrf(&form.csrf)?;
    if !sluice_db::ingest::journal::replay(&console.db, form.id).await? {
        return Err(Refusal::new(
            Rc::NotFound,
            "no failed or ignored journal row with this id",
        ));
    }
    tracing::info!(who = %admin.who, id = form.id, "admin console: replay");
    sluice_db::admin::log(
        &console.db,
        admin.who.clone(),
        "replay",
        form.id.to_string(),
        None,
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/journal"))
        .finish())
}

/// `POST /admin/journal/approve`: a held row is applied, skipping the policy that held it.
pub(crate) async fn approve(
    console: web::Data<Console>,
    admin: Admin,
    form: web::Form<Replay>,
) -> Result<HttpResponse, Refusal> {
    review(console, admin, form, Decision::Approve).await
}

/// `POST /admin/journal/reject`: a held row ends `ignored` (`ReviewRejected`).
pub(crate) async fn reject(
    console: web::Data<Console>,
    admin: Admin,
    form: web::Form<Replay>,
) -> Result<HttpResponse, Refusal> {
    review(console, admin, form, Decision::Reject).await
}

#[derive(Clone, Copy)]
enum Decision {
    Approve,
    Reject,
}

async fn review(
    console: web::Data<Console>,
    admin: Admin,
    form: web::Form<Replay>,
    decision: Decision,
) -> Result<HttpResponse, Refusal> {
    admin.check_csrf(&form.csrf)?;
    let note = format!("by {} in the admin console", admin.who);
    let (done, what) = match decision {
        Decision::Approve => (
            sluice_db::review::approve(&console.db, form.id, &note).await?,
            "approve",
        ),
        Decision::Reject => (
            sluice_db::review::reject(&console.db, form.id, &note).await?,
            "review_reject",
        ),
    };
    if !done {
        return Err(Refusal::new(
            Rc::NotFound,
            "no held journal row with this id",
        ));
    }
    tracing::info!(who = %admin.who, id = form.id, what, "admin console: review");
    sluice_db::admin::log(
        &console.db,
        admin.who.clone(),
        what,
        form.id.to_string(),
        None,
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/journal"))
        .finish())
}
