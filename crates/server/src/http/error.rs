//! JSON error answers: `{"rc": "<StableCode>", "error": "<human message>"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sluice_apub::Rc;
use sluice_db::DbError;

/// A refusal with its stable code.
#[derive(Debug)]
pub struct ApiError {
    /// The code.
    pub rc: Rc,
    /// What went wrong, for humans.
    pub message: String,
}

impl ApiError {
    /// A refusal with a message.
    pub fn new(rc: Rc, message: impl Into<String>) -> Self {
        ApiError {
            rc,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rc, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.rc
            .status()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "rc": self.rc.code(), "error": self.message }))
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_transient() {
            ApiError::new(
                Rc::DatabaseUnavailable,
                "the database is unavailable; retry later",
            )
        } else {
            tracing::error!(error = %e, "database error");
            ApiError::new(Rc::Internal, "internal error")
        }
    }
}
