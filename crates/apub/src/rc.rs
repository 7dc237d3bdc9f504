//! Stable rejection codes (`rc`): the contract with senders and admins.
//!
//! Every refusal sluice answers carries one of these in `{"rc": ..., "error": ...}`, and
//! every journal row that ends `ignored` or `failed` records one. `docs/errors.md` lists
//! them all with their HTTP status and what the sender should do; a test fails when the
//! list below and the document disagree. Codes are never renamed or reused.

/// A stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rc {
    /// No such actor, object or route.
    NotFound,
    /// The database cannot be reached; retry later.
    DatabaseUnavailable,
    /// Not ready to serve (database down or migrations pending).
    NotReady,
    /// An unexpected error on our side.
    Internal,
    /// A request parameter is missing or malformed.
    BadRequest,
}

impl Rc {
    /// Every code, for the documentation check.
    pub const ALL: &'static [Rc] = &[
        Rc::NotFound,
        Rc::DatabaseUnavailable,
        Rc::NotReady,
        Rc::Internal,
        Rc::BadRequest,
    ];

    /// The code as it appears on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Rc::NotFound => "NotFound",
            Rc::DatabaseUnavailable => "DatabaseUnavailable",
            Rc::NotReady => "NotReady",
            Rc::Internal => "Internal",
            Rc::BadRequest => "BadRequest",
        }
    }

    /// The HTTP status that goes with it, or `None` for codes that only appear in the
    /// journal (why an accepted activity was ignored or failed). 4xx only for permanent
    /// refusals (senders drop the activity); 5xx and 429 for trouble worth retrying.
    pub fn status(self) -> Option<u16> {
        Some(match self {
            Rc::NotFound => 404,
            Rc::DatabaseUnavailable | Rc::NotReady => 503,
            Rc::Internal => 500,
            Rc::BadRequest => 400,
        })
    }
}

impl std::fmt::Display for Rc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
