//! Journal: failed activities with their rc, message and raw JSON, and a replay button
//! (what `sluice journal replay ID` does).

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
                        td.n { (f.id) }
                        td { (page::ago(Some(f.received_at), now)) }
                        td { (f.kind) }
                        td { (f.actor) }
                        td { (f.error_code.as_deref().unwrap_or("-")) }
                        td { (f.error.as_deref().unwrap_or("")) }
                        td.n { (f.attempts) }
                        td { form.inline method="post" action="/admin/journal/replay" {
                            input type="hidden" name="csrf" value=(admin.csrf);
                            input type="hidden" name="id" value=(f.id);
                            button type="submit" aria-label={"Replay activity " (f.id)} { "Replay" }
                        } }
                    }
                    tr { td colspan="8" {
                        details {
                            summary { "Raw JSON of " (f.activity_id) }
                            pre { (raw) }
                        }
                    } }
                } }
            } }
        }
        h2 { "Held for review" }
        p.muted { "sluice has no held state yet: nothing waits for an approval. A review queue (approve or reject held activities) is a separate piece of work." }
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
