//! Refusals: `{"rc": "<StableCode>", "error": "<message>"}` with the code's HTTP status.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use sluice_apub::Rc;
use std::time::Duration;

/// Why a request was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The stable code.
    pub rc: Rc,
    /// For humans.
    pub message: String,
    /// `Retry-After`, for 429.
    pub retry_after: Option<Duration>,
}

impl Refusal {
    /// A refusal with a message.
    pub fn new(rc: Rc, message: impl Into<String>) -> Self {
        Refusal {
            rc,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Our database cannot be reached: 503, the sender retries later.
    pub fn database_unavailable() -> Self {
        Refusal::new(
            Rc::DatabaseUnavailable,
            "the database is unavailable; retry later",
        )
    }

    /// The HTTP status of its code.
    pub fn status(&self) -> StatusCode {
        self.rc
            .status()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The answer.
    pub fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status());
        if let Some(after) = self.retry_after {
            b.insert_header(("Retry-After", after.as_secs().max(1).to_string()));
        }
        b.json(serde_json::json!({ "rc": self.rc.code(), "error": self.message }))
    }

    /// The metric result label: `rejected` (4xx), `throttled` (429), `unavailable` (5xx).
    pub fn result_label(&self) -> &'static str {
        match self.status().as_u16() {
            429 => "throttled",
            s if s >= 500 => "unavailable",
            _ => "rejected",
        }
    }
}
