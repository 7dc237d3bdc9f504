//! HTTP wiring: routes, request metrics, and the server itself.
//!
//! Handlers live with the concern they serve: actor documents ([`actors`]), discovery
//! ([`discovery`]), operations endpoints ([`ops`]).

mod actors;
mod discovery;
mod ops;

use crate::state::AppState;
use actix_web::dev::Service;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;

pub use sluice_refusal::Refusal;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route(
            "/.well-known/webfinger",
            web::get().to(discovery::webfinger),
        )
        .route(
            "/.well-known/nodeinfo",
            web::get().to(discovery::nodeinfo_links),
        )
        .route("/nodeinfo/2.1", web::get().to(discovery::nodeinfo))
        .route("/", web::get().to(actors::instance_actor))
        .route("/c/{name}", web::get().to(actors::community))
        .route("/u/{name}", web::get().to(actors::person))
        .route(
            "/c/{name}/{collection}",
            web::get().to(actors::community_collection),
        )
        .route("/u/{name}/outbox", web::get().to(actors::person_outbox));
}

/// Starts the HTTP server on `listener` (already bound, so the caller reports bind errors
/// and tests can use port 0). Signals are handled by the caller.
pub fn serve(
    state: web::Data<AppState>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let queue_api = state.queue_api.clone();
    let mut server = HttpServer::new(move || {
        let inbox = state.inbox.clone();
        App::new()
            .app_data(state.clone())
            .configure(|c| queue_api.configure(c))
            .wrap_fn(|req, srv| {
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    let route = res
                        .request()
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".into());
                    let status = format!("{}xx", res.status().as_u16() / 100);
                    sluice_metrics::global()
                        .http_requests_total
                        .with_label_values(&[&route, &status])
                        .inc();
                    Ok(res)
                }
            })
            // Before `routes`: POST /c/{name}/inbox must not land on /c/{name}/{collection}.
            .configure(|c| sluice_inbox::configure(c, inbox))
            .configure(routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(Refusal::new(
                    sluice_apub::Rc::NotFound,
                    "no such route",
                ))
            }))
    })
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// True when the client asked for ActivityPub JSON rather than a page.
pub fn wants_activity_json(req: &actix_web::HttpRequest) -> bool {
    req.headers()
        .get_all(actix_web::http::header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.contains("application/activity+json")
                || v.contains("application/ld+json")
                || v.contains("application/json")
        })
}
