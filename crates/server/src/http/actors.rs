//! Local actor documents, with content negotiation: ActivityPub clients get JSON, browsers
//! a short page saying what the actor is and how to follow it.

use super::{Refusal, wants_activity_json};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use sluice_apub::actor::{ActorKind, LocalActor, is_valid_name, render};
use sluice_apub::context::default_context;
use sluice_apub::{ACTIVITY_JSON, LocalUrls, Rc};
use sluice_db::actors::{self as q, Community, Person};
use sluice_db::served;

fn activity_json(doc: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().content_type(ACTIVITY_JSON).json(doc)
}

fn page(title: &str, body: &str) -> HttpResponse {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>{}</title><h1>{}</h1><p>{}</p>\
         <p><small>Served by sluice, a federation inbox engine.</small></p>",
            esc(title),
            esc(title),
            esc(body)
        ))
}

/// `GET /`: the instance actor.
pub async fn instance_actor(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let id = st.urls.instance_actor();
    if !wants_activity_json(&req) {
        return page(
            st.urls.domain(),
            "This instance federates over ActivityPub.",
        );
    }
    activity_json(render(
        &LocalActor {
            kind: ActorKind::Application,
            id: &id,
            name: st.urls.domain(),
            title: Some(st.urls.domain()),
            summary: None,
            public_key_pem: &st.instance_key.public_key_pem,
            published: Some(st.instance_key.created_at),
        },
        &st.urls,
    ))
}

/// `GET /c/{name}`.
pub async fn community(
    req: HttpRequest,
    st: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Refusal> {
    let c = local_community(&st, &name).await?;
    if !wants_activity_json(&req) {
        return Ok(page(
            &c.title,
            &format!(
                "A community on {}. Follow it from your instance: !{}@{}",
                st.urls.domain(),
                c.name,
                st.urls.domain()
            ),
        ));
    }
    Ok(activity_json(render(
        &LocalActor {
            kind: ActorKind::Group,
            id: &c.ap_id,
            name: &c.name,
            title: Some(&c.title),
            summary: c.summary.as_deref(),
            public_key_pem: c.public_key_pem.as_deref().unwrap_or_default(),
            published: c.published,
        },
        &st.urls,
    )))
}

/// `GET /u/{name}`.
pub async fn person(
    req: HttpRequest,
    st: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Refusal> {
    let p = local_person(&st, &name).await?;
    if !wants_activity_json(&req) {
        return Ok(page(
            &p.name,
            &format!(
                "A user on {}: @{}@{}",
                st.urls.domain(),
                p.name,
                st.urls.domain()
            ),
        ));
    }
    Ok(activity_json(render(
        &LocalActor {
            kind: ActorKind::Person,
            id: &p.ap_id,
            name: &p.name,
            title: p.display_name.as_deref(),
            summary: p.summary.as_deref(),
            public_key_pem: p.public_key_pem.as_deref().unwrap_or_default(),
            published: p.published,
        },
        &st.urls,
    )))
}

/// An empty ordered collection. Peers (Lemmy among them) fetch a community's outbox and
/// featured posts right after the actor; sluice is an inbox engine and the instance's
/// application owns content pages, so these answer empty but valid.
fn empty_collection(id: String) -> HttpResponse {
    activity_json(json!({
        "@context": default_context(),
        "id": id,
        "type": "OrderedCollection",
        "totalItems": 0,
        "orderedItems": []
    }))
}

/// Most moderators listed in a moderators collection.
const MAX_MODERATORS_LISTED: i64 = 1000;

/// `GET /c/{name}/{outbox|followers|moderators|featured}`, one query each.
pub async fn community_collection(
    st: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Refusal> {
    let (name, what) = path.into_inner();
    let no_community = || Refusal::new(Rc::NotFound, "no such community");
    if !is_valid_name(&name) {
        return Err(no_community());
    }
    match what.as_str() {
        // As Lemmy's: a `Collection` with the count and no items (who follows is not
        // listed). Lemmy reads exactly this shape and shows `totalItems` as subscribers.
        "followers" => {
            let f = served::followers(&st.db, &name)
                .await?
                .ok_or_else(no_community)?;
            Ok(activity_json(json!({
                "@context": default_context(),
                "id": LocalUrls::sub(&f.ap_id, "followers"),
                "type": "Collection",
                "totalItems": f.accepted,
                "items": []
            })))
        }
        // As Lemmy's: the moderators' actor ids, in order.
        "moderators" => {
            let m = served::moderators(&st.db, &name, MAX_MODERATORS_LISTED)
                .await?
                .ok_or_else(no_community)?;
            Ok(activity_json(json!({
                "@context": default_context(),
                "id": LocalUrls::sub(&m.ap_id, "moderators"),
                "type": "OrderedCollection",
                "totalItems": m.moderators.len(),
                "orderedItems": m.moderators
            })))
        }
        "outbox" | "featured" => {
            let c = local_community(&st, &name).await?;
            Ok(empty_collection(LocalUrls::sub(&c.ap_id, &what)))
        }
        _ => Err(Refusal::new(Rc::NotFound, "no such collection")),
    }
}

/// `GET /u/{name}/outbox`.
pub async fn person_outbox(
    st: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Refusal> {
    let p = local_person(&st, &name).await?;
    Ok(empty_collection(LocalUrls::sub(&p.ap_id, "outbox")))
}

async fn local_person(st: &AppState, name: &str) -> Result<Person, Refusal> {
    let not_found = || Refusal::new(Rc::NotFound, "no such user");
    if !is_valid_name(name) {
        return Err(not_found());
    }
    q::local_person(&st.db, name).await?.ok_or_else(not_found)
}

async fn local_community(st: &AppState, name: &str) -> Result<Community, Refusal> {
    let not_found = || Refusal::new(Rc::NotFound, "no such community");
    if !is_valid_name(name) {
        return Err(not_found());
    }
    q::local_community(&st.db, name)
        .await?
        .ok_or_else(not_found)
}
