//! The local HTTP APIs: `POST /api/v1/publish` and `GET /api/v1/federation`.
//!
//! Both need `Authorization: Bearer <publish_token>`. Without a configured token both are
//! disabled (403 `ApiDisabled`): publishing makes sluice sign as local actors, and the
//! status names the instances we federate with and their errors, so neither is open by
//! default. (`sluice federation status` shows the same to the admin without a token, and
//! `/metrics` carries the per-instance lag.)

use crate::Signers;
use crate::publish::{PublishRequest, Refusal, publish};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use sluice_apub::{LocalUrls, Rc};
use sluice_db::Db;
use sluice_stage::Waker;
use std::sync::Arc;

/// Largest publish body (an activity is a few KiB; a thousand inboxes ~100 KiB).
pub const MAX_BODY: usize = 512 * 1024;

/// What the two endpoints need. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    db: Db,
    urls: LocalUrls,
    token: Option<Arc<str>>,
    dev_mode: bool,
    signers: Arc<Signers>,
    local: Arc<sluice_pipeline::LocalEffects>,
    waker: Waker,
}

impl Api {
    /// The APIs of `queue` for our domain; `token` unset disables them. `local` applies
    /// what is published to the local tables.
    pub fn new(
        queue: &crate::Queue,
        db: Db,
        urls: LocalUrls,
        token: Option<String>,
        dev_mode: bool,
        local: sluice_pipeline::LocalEffects,
    ) -> Api {
        Api {
            db,
            urls,
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
            dev_mode,
            signers: queue.signers(),
            local: Arc::new(local),
            waker: queue.waker(),
        }
    }

    /// Registers the routes (use with `App::configure`). Settings are scoped to these two
    /// resources; any other method on them is a JSON 404.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let data = web::Data::new(self.clone());
        cfg.service(
            web::resource("/api/v1/publish")
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(web::post().to(publish_handler))
                .default_service(web::to(no_route)),
        )
        .service(
            web::resource("/api/v1/federation")
                .app_data(data)
                .route(web::get().to(federation_handler))
                .default_service(web::to(no_route)),
        );
    }

    fn authorize(&self, req: &HttpRequest) -> Result<(), Refusal> {
        let Some(token) = &self.token else {
            return Err(Refusal::new(
                Rc::ApiDisabled,
                "this API is disabled: no publish_token is configured",
            ));
        };
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare digests: equal length, and no early exit on the secret's bytes.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(token.as_bytes()) {
            return Err(Refusal::new(
                Rc::TokenInvalid,
                "missing or wrong bearer token",
            ));
        }
        Ok(())
    }
}

async fn publish_handler(
    api: web::Data<Api>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Refusal> {
    api.authorize(&req)?;
    let parsed: PublishRequest = serde_json::from_slice(&body).map_err(|e| {
        Refusal::new(
            Rc::BadRequest,
            format!("body is not a publish request: {e}"),
        )
    })?;
    let published = publish(
        &api.db,
        &api.signers,
        &api.local,
        &api.urls,
        api.dev_mode,
        parsed,
    )
    .await?;
    if published.duplicate {
        return Ok(HttpResponse::Ok().json(published));
    }
    api.waker.wake();
    Ok(HttpResponse::Accepted().json(published))
}

async fn no_route() -> Result<HttpResponse, Refusal> {
    Err(Refusal::new(
        Rc::NotFound,
        "no such route (publish is POST, federation is GET)",
    ))
}

async fn federation_handler(
    api: web::Data<Api>,
    req: HttpRequest,
) -> Result<HttpResponse, Refusal> {
    api.authorize(&req)?;
    let rows = crate::status::load(&api.db).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "instances": rows })))
}
