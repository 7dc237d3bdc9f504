//! The peer's HTTP server: documents on `GET`, inboxes on `POST`.
//!
//! One catch-all handler dispatches on method and path, because actors, documents and
//! behaviours are added while the server runs. Nothing a client sends can make it panic:
//! malformed requests are answered (and inbox requests recorded) like any other.

use super::actors::ActorKind;
use super::state::{Behaviour, Peer};
use super::{inbox, lemmy_context};
use activitypub_federation::FEDERATION_CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;

/// Starts serving `shared` on `listener` (one worker: the handlers are async).
pub(crate) fn serve(
    peer: web::Data<Peer>,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(peer.clone())
            .default_service(web::to(dispatch))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

async fn dispatch(req: HttpRequest, payload: web::Payload, peer: web::Data<Peer>) -> HttpResponse {
    let path = req.path().to_string();
    match *req.method() {
        actix_web::http::Method::POST if inbox::is_inbox_path(&path) => {
            inbox::receive(req, payload, peer).await
        }
        actix_web::http::Method::GET | actix_web::http::Method::HEAD => {
            document(&req, &path, &peer).await
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

/// A small JSON error body.
pub(crate) fn error(status: StatusCode, msg: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": msg }))
}

fn activity_json(status: StatusCode, doc: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(FEDERATION_CONTENT_TYPE)
        .insert_header(("Vary", "Accept"))
        .body(doc.to_string())
}

/// Answers a `GET`: scripted behaviour first, then served documents, then actors and discovery.
async fn document(req: &HttpRequest, path: &str, peer: &Peer) -> HttpResponse {
    let behaviour = {
        let mut st = peer.lock();
        *st.fetches.entry(path.to_string()).or_default() += 1;
        st.fetch_log.push(path.to_string());
        st.routes.get(path).cloned().unwrap_or_default()
    };
    let Behaviour { status, delay } = behaviour;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "scripted status");
    }
    match path {
        "/.well-known/webfinger" => return webfinger(req, peer),
        "/.well-known/nodeinfo" => {
            return HttpResponse::Ok().json(json!({
                "links": [{
                    "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                    "href": format!("{}/nodeinfo/2.1", peer.base),
                }]
            }));
        }
        "/nodeinfo/2.1" => return HttpResponse::Ok().json(nodeinfo(peer)),
        _ => {}
    }
    let st = peer.lock();
    if let Some(doc) = st.docs.get(path) {
        return activity_json(StatusCode::OK, doc);
    }
    if let Some(actor) = st.actor_at(path) {
        return if actor.gone {
            activity_json(StatusCode::GONE, &actor.tombstone())
        } else {
            activity_json(StatusCode::OK, &actor.document(&peer.base))
        };
    }
    // `/u/NAME/outbox`, `/c/NAME/followers`, ...: the actor's (empty) collections.
    if let Some((owner, which)) = path.rsplit_once('/')
        && let Some(actor) = st.actor_at(owner)
        && actor.kind != ActorKind::Instance
    {
        if actor.gone {
            return activity_json(StatusCode::GONE, &actor.tombstone());
        }
        if let Some(doc) = actor.collection(which) {
            return activity_json(StatusCode::OK, &doc);
        }
    }
    if path == "/outbox" {
        let doc = json!({
            "@context": lemmy_context(),
            "id": format!("{}/outbox", peer.base),
            "type": "OrderedCollection",
            "totalItems": 0,
            "orderedItems": [],
        });
        return activity_json(StatusCode::OK, &doc);
    }
    error(StatusCode::NOT_FOUND, "not found")
}

/// `GET /.well-known/webfinger?resource=acct:NAME@DOMAIN` for persons and groups.
fn webfinger(req: &HttpRequest, peer: &Peer) -> HttpResponse {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let Some(resource) = query.get("resource") else {
        return error(StatusCode::BAD_REQUEST, "resource missing");
    };
    let acct = resource.strip_prefix("acct:").unwrap_or(resource);
    let Some((name, domain)) = acct.rsplit_once('@') else {
        return error(StatusCode::BAD_REQUEST, "resource is not acct:NAME@DOMAIN");
    };
    if domain != peer.domain {
        return error(StatusCode::NOT_FOUND, "not our domain");
    }
    let st = peer.lock();
    let actor = st
        .by_kind(ActorKind::Person, name)
        .or_else(|| st.by_kind(ActorKind::Group, name));
    match actor {
        Some(actor) if !actor.gone => HttpResponse::Ok()
            .content_type("application/jrd+json")
            .body(actor.webfinger(&peer.domain).to_string()),
        Some(_) => error(StatusCode::GONE, "gone"),
        None => error(StatusCode::NOT_FOUND, "no such actor"),
    }
}

fn nodeinfo(peer: &Peer) -> Value {
    let users = peer
        .lock()
        .actors
        .values()
        .filter(|a| a.kind == ActorKind::Person)
        .count();
    json!({
        "version": "2.1",
        "software": { "name": "lemmy", "version": "0.19.3" },
        "protocols": ["activitypub"],
        "services": { "inbound": [], "outbound": [] },
        "openRegistrations": false,
        "usage": { "users": { "total": users } },
        "metadata": {},
    })
}
