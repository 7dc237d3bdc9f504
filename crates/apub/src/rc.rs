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
    // --- journal-only codes of the ingestion pipeline (never an HTTP answer) ---
    /// An activity (or the document fetched for it) cannot be read: no id, type, actor or object.
    MalformedActivity,
    /// An activity type sluice does not act on (kept as `ignored`).
    UnsupportedActivity,
    /// An object type or collection an activity acts on that sluice does not store.
    UnsupportedObject,
    /// Content addressed to no community or local user we keep.
    NotForUs,
    /// Content of a remote community that no local user follows (Lemmy's rule).
    NoLocalFollower,
    /// The actor may not do this (not the author, not a moderator).
    NotPermitted,
    /// The actor is banned from the community.
    ActorBanned,
    /// An id is on another host than its actor: not trusted.
    HostMismatch,
    /// A community announced content of another community.
    CommunityMismatch,
    /// The activity refers to an instance our policy refuses.
    PolicyBlocked,
    /// The object is deleted or removed; nothing may revive it.
    ObjectDeleted,
    /// An update older than the stored version.
    StaleUpdate,
    /// The object acted on is unknown here and is not fetched for this activity.
    UnknownObject,
    /// An Undo of something not known (yet); remembered, so it wins over a late original.
    NothingToUndo,
    /// An activity undone by a later Undo that arrived first.
    Superseded,
    /// A new comment on a locked post.
    PostLocked,
    /// A remote fetch timed out (retried).
    FetchTimeout,
    /// A remote fetch failed: network error or server error (retried).
    FetchFailed,
    /// A remote fetch answered 404.
    FetchNotFound,
    /// A remote fetch was not attempted or was cut: unsafe target, too large, disabled.
    FetchRefused,
    /// A fetched document is not what was expected (wrong type, wrong host, not JSON).
    FetchInvalid,
    /// A journal row was claimed too many times without finishing (a crash loop).
    AttemptsExhausted,
}

impl Rc {
    /// Every code, for the documentation check.
    pub const ALL: &'static [Rc] = &[
        Rc::NotFound,
        Rc::DatabaseUnavailable,
        Rc::NotReady,
        Rc::Internal,
        Rc::BadRequest,
        Rc::MalformedActivity,
        Rc::UnsupportedActivity,
        Rc::UnsupportedObject,
        Rc::NotForUs,
        Rc::NoLocalFollower,
        Rc::NotPermitted,
        Rc::ActorBanned,
        Rc::HostMismatch,
        Rc::CommunityMismatch,
        Rc::PolicyBlocked,
        Rc::ObjectDeleted,
        Rc::StaleUpdate,
        Rc::UnknownObject,
        Rc::NothingToUndo,
        Rc::Superseded,
        Rc::PostLocked,
        Rc::FetchTimeout,
        Rc::FetchFailed,
        Rc::FetchNotFound,
        Rc::FetchRefused,
        Rc::FetchInvalid,
        Rc::AttemptsExhausted,
    ];

    /// The code as it appears on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Rc::NotFound => "NotFound",
            Rc::DatabaseUnavailable => "DatabaseUnavailable",
            Rc::NotReady => "NotReady",
            Rc::Internal => "Internal",
            Rc::BadRequest => "BadRequest",
            Rc::MalformedActivity => "MalformedActivity",
            Rc::UnsupportedActivity => "UnsupportedActivity",
            Rc::UnsupportedObject => "UnsupportedObject",
            Rc::NotForUs => "NotForUs",
            Rc::NoLocalFollower => "NoLocalFollower",
            Rc::NotPermitted => "NotPermitted",
            Rc::ActorBanned => "ActorBanned",
            Rc::HostMismatch => "HostMismatch",
            Rc::CommunityMismatch => "CommunityMismatch",
            Rc::PolicyBlocked => "PolicyBlocked",
            Rc::ObjectDeleted => "ObjectDeleted",
            Rc::StaleUpdate => "StaleUpdate",
            Rc::UnknownObject => "UnknownObject",
            Rc::NothingToUndo => "NothingToUndo",
            Rc::Superseded => "Superseded",
            Rc::PostLocked => "PostLocked",
            Rc::FetchTimeout => "FetchTimeout",
            Rc::FetchFailed => "FetchFailed",
            Rc::FetchNotFound => "FetchNotFound",
            Rc::FetchRefused => "FetchRefused",
            Rc::FetchInvalid => "FetchInvalid",
            Rc::AttemptsExhausted => "AttemptsExhausted",
        }
    }

    /// The HTTP status that goes with it, or `None` for codes that only appear in the
    /// journal (why an accepted activity was ignored or failed). 4xx only for permanent
    /// refusals (senders drop the activity); 5xx and 429 for trouble worth retrying.
    pub fn status(self) -> Option<u16> {
        if self.journal_only() {
            return None;
        }
        Some(match self {
            Rc::NotFound => 404,
            Rc::DatabaseUnavailable | Rc::NotReady => 503,
            Rc::Internal => 500,
            Rc::BadRequest => 400,
            _ => 500,
        })
    }

    /// Codes that only explain journal rows (the pipeline's verdicts).
    fn journal_only(self) -> bool {
        matches!(
            self,
            Rc::MalformedActivity
                | Rc::UnsupportedActivity
                | Rc::UnsupportedObject
                | Rc::NotForUs
                | Rc::NoLocalFollower
                | Rc::NotPermitted
                | Rc::ActorBanned
                | Rc::HostMismatch
                | Rc::CommunityMismatch
                | Rc::PolicyBlocked
                | Rc::ObjectDeleted
                | Rc::StaleUpdate
                | Rc::UnknownObject
                | Rc::NothingToUndo
                | Rc::Superseded
                | Rc::PostLocked
                | Rc::FetchTimeout
                | Rc::FetchFailed
                | Rc::FetchNotFound
                | Rc::FetchRefused
                | Rc::FetchInvalid
                | Rc::AttemptsExhausted
        )
    }
}

impl std::fmt::Display for Rc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
