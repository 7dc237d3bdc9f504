//! HTTP wiring: routes, request metrics, and the server itself.
//!
//! Handlers live with the concern they serve: actor documents and collections ([`actors`]),
//! the activities we sent ([`activities`]), discovery ([`discovery`]), operations endpoints
//! ([`ops`]).

mod activities;
mod actors;
mod discovery;
mod ops;
pub mod refusals;

use crate::state::AppState;
use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::{AppConfig, Service};
use actix_web::{App, web};
use std::net::TcpListener;
use std::time::Duration;

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
        .route("/u/{name}/outbox", web::get().to(actors::person_outbox))
        .route("/activities/{tail:.*}", web::get().to(activities::activity));
}

/// How long a client may take to send a request's headers (408 past it, as JSON).
const HEADERS_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the HTTP server on `listener` (already bound, so the caller reports bind errors
/// and tests can use port 0). Signals are handled by the caller.
///
/// Built from actix-server and actix-http rather than `HttpServer` so that each connection's
/// socket can be wrapped in [`refusals::JsonRefusals`]: the HTTP/1 codec's own refusals (431,
/// 408, 400) leave as `{"rc", "error"}` like every other.
pub fn serve(
    state: web::Data<AppState>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let addr = listener.local_addr()?;
    let mut builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(10);
    if workers > 0 {
        builder = builder.workers(workers);
    }
    let server = builder
        .listen("sluice-http", listener, move || {
            let app = app(state.clone()).into_factory();
            let http = HttpService::build()
                .client_request_timeout(HEADERS_TIMEOUT)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .finish(map_config(app, |_| AppConfig::default()));
            fn_service(|io: actix_rt::net::TcpStream| async move {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, DispatchError>((refusals::JsonRefusals::new(io), Protocol::Http1, peer))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// The application: routes, metrics, JSON refusals.
fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let queue_api = state.queue_api.clone();
    let inbox = state.inbox.clone();
    let admin = state.admin.clone();
    App::new()
        .app_data(state)
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
        .wrap_fn(|req, srv| {
            let fut = srv.call(req);
            async move { fut.await.map(refusals::to_json) }
        })
        // Before `routes`: POST /c/{name}/inbox must not land on /c/{name}/{collection}.
        .configure(|c| sluice_inbox::configure(c, inbox))
        .configure(routes)
        .configure(|c| sluice_admin::configure(c, &admin))
        .default_service(web::to(activities::unmatched))
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
