//! The refusal every sluice HTTP handler answers with: `{"rc": "<StableCode>", "error":
//! "<human message>"}`, with the HTTP status its code carries (`sluice_apub::Rc`) and, for
//! 429, a `Retry-After`. One type, so that the inbox, the local APIs and the actor endpoints
//! cannot drift apart in what a refusal looks like.

#![deny(missing_docs)]

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sluice_apub::Rc;
use sluice_apub::signature::SignatureError;
use sluice_db::{DbError, Retry};
use std::time::Duration;

/// What a 503 for database trouble asks the sender to wait: a restart or failover takes
/// seconds.
pub const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What a 429 or 503 asks the sender to wait when its code gives no better figure: a sender
/// told nothing retries at once (Mastodon and Lemmy keep their own schedule, but other
/// senders and proxies read the header), which piles onto the trouble it was told about.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The stable code.
    pub rc: Rc,
    /// For humans.
    pub message: String,
    /// `Retry-After`, for 429 and 503.
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

    /// The same, telling the sender when to come back.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Our database is in trouble (unreachable, restarting, overloaded): 503 with
    /// `Retry-After`, the sender retries later and nothing is lost.
    pub fn database_unavailable() -> Self {
        Refusal::new(
            Rc::DatabaseUnavailable,
            "the database is unavailable; retry later",
        )
        .retry_after(DATABASE_RETRY_AFTER)
    }

    /// The HTTP status of its code (500 for a code that is never an answer).
    pub fn status(&self) -> StatusCode {
        self.rc
            .status()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A bounded metric label: `rejected` (4xx), `throttled` (429), `unavailable` (5xx).
    pub fn result_label(&self) -> &'static str {
        match self.status().as_u16() {
            429 => "throttled",
            s if s >= 500 => "unavailable",
            _ => "rejected",
        }
    }

    /// `Retry-After`, if any: the refusal's own, else [`DEFAULT_RETRY_AFTER`] for every
    /// 429 and 503 (each asks the sender to come back, so each says when).
    pub fn retry_after_sent(&self) -> Option<Duration> {
        let status = self.status().as_u16();
        self.retry_after
            .or_else(|| matches!(status, 429 | 503).then_some(DEFAULT_RETRY_AFTER))
    }

    /// The HTTP answer.
    pub fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status());
        if let Some(after) = self.retry_after_sent() {
            b.insert_header(("Retry-After", after.as_secs().max(1).to_string()));
        }
        b.json(serde_json::json!({ "rc": self.rc.code(), "error": self.message }))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rc, self.message)
    }
}

impl std::error::Error for Refusal {}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

// The conversions for error types of the crates below this one live here (the orphan rule
// keeps them from living beside their types); each crate above puts its own beside its
// error type.

/// Database trouble that passes ([`Retry::Later`]) is 503 (the sender retries; nothing is
/// lost); anything else is an internal error, logged, with no detail leaked to the caller.
impl From<DbError> for Refusal {
    fn from(e: DbError) -> Self {
        if e.retry() == Retry::Later {
            tracing::warn!(error = %e, "database trouble; answering 503");
            Refusal::database_unavailable()
        } else {
            tracing::error!(error = %e, "database error");
            Refusal::new(Rc::Internal, "internal error")
        }
    }
}

/// A signature that does not hold: its own code, its message for the sender.
impl From<SignatureError> for Refusal {
    fn from(e: SignatureError) -> Self {
        Refusal::new(e.rc(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_db::diesel;

    #[test]
    fn status_body_and_retry_after_follow_the_code() {
        let r = Refusal::new(Rc::Backpressure, "busy").retry_after(Duration::from_secs(30));
        let resp = r.response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers().get("retry-after").unwrap(), "30");
        assert_eq!(r.result_label(), "throttled");
        assert_eq!(Refusal::new(Rc::NotFound, "x").status(), 404);
        let down = Refusal::from(DbError::Unavailable("down".into()));
        assert_eq!(down.rc, Rc::DatabaseUnavailable);
        let resp = down.response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers().get("retry-after").unwrap(), "10");
        // A server shutting down mid-statement: 503, whether or not the connection is
        // known to be closed yet.
        let shutdown = DbError::classify(
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new("terminating connection due to administrator command".to_string()),
            ),
            sluice_db::SqlState::new("57P01"),
        );
        assert_eq!(Refusal::from(shutdown).status(), 503);
        let duplicate = DbError::classify(
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                Box::new("duplicate key".to_string()),
            ),
            sluice_db::SqlState::new("23505"),
        );
        assert_eq!(Refusal::from(duplicate).status(), 500);
        assert_eq!(
            Refusal::from(DbError::Config("bad".into())).rc,
            Rc::Internal
        );
    }

    #[test]
    fn every_429_and_503_says_when_to_come_back() {
        for rc in Rc::ALL {
            let r = Refusal::new(*rc, "x");
            let status = r.status().as_u16();
            let header = r.response().headers().get("retry-after").cloned();
            if matches!(status, 429 | 503) {
                let secs: u64 = header
                    .unwrap_or_else(|| panic!("{rc} ({status}) without Retry-After"))
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(secs >= 1, "{rc}");
            } else {
                assert!(header.is_none(), "{rc} ({status}) with Retry-After");
            }
        }
        // A code's own figure wins over the default.
        let r = Refusal::new(Rc::LocalJournalUnavailable, "x").retry_after(Duration::from_secs(3));
        assert_eq!(r.response().headers().get("retry-after").unwrap(), "3");
    }
}
