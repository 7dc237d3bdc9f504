//! Operations endpoints: liveness, readiness, metrics.

use crate::state::AppState;
use actix_web::{HttpResponse, web};
use sluice_apub::Rc;
use sluice_refusal::Refusal;
use std::time::Duration;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Longest a readiness check may take: a load balancer or orchestrator probing us wants an
/// answer, and a database that takes longer than this is not one we are ready with.
pub const READY_DEADLINE: Duration = Duration::from_secs(2);

/// `GET /readyz`: the database answers and every migration is applied (one round-trip),
/// within [`READY_DEADLINE`] (503 `NotReady` past it).
pub async fn readyz(st: web::Data<AppState>) -> Result<HttpResponse, Refusal> {
    let state = tokio::time::timeout(READY_DEADLINE, sluice_db::migration_state(&st.db))
        .await
        .map_err(|_| {
            Refusal::new(
                Rc::NotReady,
                format!(
                    "the database did not answer within {} ms",
                    READY_DEADLINE.as_millis()
                ),
            )
        })?
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
