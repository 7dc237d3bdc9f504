//! Operations endpoints: liveness, readiness, metrics.

use crate::state::AppState;
use actix_web::{HttpResponse, web};
use sluice_apub::Rc;
use sluice_refusal::Refusal;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and every migration is applied (one round-trip).
pub async fn readyz(st: web::Data<AppState>) -> Result<HttpResponse, Refusal> {
    let state = sluice_db::migration_state(&st.db)
        .await
        .map_err(|e| Refusal::new(Rc::NotReady, format!("database: {e}")))?;
    if !state.pending.is_empty() {
        return Err(Refusal::new(
            Rc::NotReady,
            format!("migrations pending: {}", state.pending.join(", ")),
        ));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    st.db.export_pool_metrics();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(sluice_metrics::global().render())
}
