//! The activities sluice sent, served at their ids (`application/activity+json`), as Lemmy
//! serves its own: the community's Accepts and Announces (`/activities/KIND/HASH`) and what
//! the application published through the API (ids anywhere on our domain). Which of them
//! are served is [`sluice_apub::served`]'s rule; the others, like unknown ids, are 404
//! `NotFound`. One indexed query per request; absurd paths are refused before it.

use super::Refusal;
use crate::state::AppState;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use sluice_apub::served::served_publicly;
use sluice_apub::{ACTIVITY_JSON, Rc};
use sluice_db::served;

/// Longest request path (with query) looked up as an activity id.
const MAX_ID_PATH: usize = 1024;

fn not_found() -> Refusal {
    Refusal::new(Rc::NotFound, "no such activity")
}

/// `GET /activities/...`, and any other GET no route matched: the outbound activity whose
/// id is this URL, when it is served.
pub async fn activity(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, Refusal> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if path.len() > MAX_ID_PATH || path == "/" {
        return Err(not_found());
    }
    let id = st.urls.of_path(path);
    match served::outbound_activity(&st.db, &id).await? {
        Some(mut raw) if served_publicly(&raw) => {
            // Blind copies stay blind: whoever fetches the activity is not its recipient.
            if let Some(fields) = raw.as_object_mut() {
                fields.remove("bto");
                fields.remove("bcc");
            }
            Ok(HttpResponse::Ok().content_type(ACTIVITY_JSON).json(raw))
        }
        _ => Err(not_found()),
    }
}

/// What no route matched: a GET may be an activity id the application minted; anything
/// else is 404.
pub async fn unmatched(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, Refusal> {
    if req.method() == Method::GET {
        return activity(req, st).await;
    }
    Err(Refusal::new(Rc::NotFound, "no such route"))
}
