//! Stable rejection codes (`rc`): the contract with senders and admins.
//!
//! Every refusal sluice answers carries one of these in `{"rc": ..., "error": ...}`, and
//! every journal row that ends `ignored` or `failed` records one. `docs/errors.md` lists
//! them all with their HTTP status and what the sender should do; a test fails when the
//! list below and the document disagree. Codes are never renamed or reused.
//!
//! Each code is declared once, with its HTTP status (`None` for codes that only explain
//! journal rows). 4xx only for permanent refusals (senders drop the activity); 5xx and 429
//! for trouble worth retrying.

macro_rules! codes {
    ($( $(#[doc = $doc:literal])+ $name:ident => $status:expr, )+) => {
        /// A stable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rc {
            $( $(#[doc = $doc])+ $name, )+
        }

        impl Rc {
            /// Every code, for the documentation check.
            pub const ALL: &'static [Rc] = &[$(Rc::$name),+];

            /// The code as it appears on the wire.
            pub fn code(self) -> &'static str {
                match self {
                    $(Rc::$name => stringify!($name),)+
                }
            }

            /// The HTTP status that goes with it, or `None` for journal-only codes.
            pub fn status(self) -> Option<u16> {
                match self {
                    $(Rc::$name => $status,)+
                }
            }
        }
    };
}

codes! {
    /// No such actor, object or route.
    NotFound => Some(404),
    /// A request parameter is missing or malformed.
    BadRequest => Some(400),
    /// The database cannot be reached; retry later.
    DatabaseUnavailable => Some(503),
    /// Not ready to serve (database down or migrations pending).
    NotReady => Some(503),
    /// An unexpected error on our side.
    Internal => Some(500),
    /// The request carries no HTTP signature.
    SignatureMissing => Some(401),
    /// The Signature header cannot be parsed.
    SignatureMalformed => Some(401),
    /// The signature does not cover a header it must cover.
    SignatureHeaderNotSigned => Some(401),
    /// A request with a body has no Digest header.
    DigestMissing => Some(401),
    /// The Digest header does not match the body.
    DigestMismatch => Some(401),
    /// The signature's date is outside the accepted window.
    SignatureExpired => Some(401),
    /// The signature algorithm is not supported.
    SignatureAlgorithmUnsupported => Some(401),
    /// The signature does not verify with the signer's key.
    SignatureInvalid => Some(401),
    /// The inbox accepts only ActivityPub JSON media types.
    UnsupportedMediaType => Some(415),
    /// The request body is larger than the configured limit.
    PayloadTooLarge => Some(413),
    /// The request body did not arrive within the read timeout.
    RequestTimeout => Some(408),
    /// The body is not valid JSON (or holds text PostgreSQL cannot store, `\u0000`).
    JsonMalformed => Some(400),
    /// The JSON nests deeper than the configured limit.
    JsonTooDeep => Some(400),
    /// The JSON is not an activity: no `id`, `type` or `actor`, or they are not URLs.
    NotAnActivity => Some(400),
    /// The activity's `id` is on another host than its `actor`.
    IdHostMismatch => Some(400),
    /// The sender's instance is blocked here.
    InstanceBlocked => Some(403),
    /// Allow-list mode, and the sender's instance is not on the list.
    InstanceNotAllowed => Some(403),
    /// The signing key belongs to another host than the activity's actor.
    SignerNotActor => Some(401),
    /// The signing key cannot be resolved (not found, unreadable, not owned as claimed).
    KeyUnknown => Some(401),
    /// Fetching the signing key failed for now (timeout, 5xx); retry later.
    KeyFetchFailed => Some(503),
    /// The journal is too far behind; retry after `Retry-After`.
    Backpressure => Some(429),
    /// The request could not be answered within the deadline; retry later.
    DeadlineExceeded => Some(503),
    /// The method is not allowed on this path.
    MethodNotAllowed => Some(405),
    // --- journal-only codes of the ingestion pipeline (never an HTTP answer) ---
    /// An activity (or the document fetched for it) cannot be read: no id, type, actor or object.
    MalformedActivity => None,
    /// An activity type sluice does not act on (kept as `ignored`).
    UnsupportedActivity => None,
    /// An object type or collection an activity acts on that sluice does not store.
    UnsupportedObject => None,
    /// Content addressed to no community or local user we keep.
    NotForUs => None,
    /// Content of a remote community that no local user follows (Lemmy's rule).
    NoLocalFollower => None,
    /// The actor may not do this (not the author, not a moderator).
    NotPermitted => None,
    /// The actor is banned from the community.
    ActorBanned => None,
    /// An id is on another host than its actor: not trusted.
    HostMismatch => None,
    /// A community announced content of another community.
    CommunityMismatch => None,
    /// The activity refers to an instance our policy refuses.
    PolicyBlocked => None,
    /// The object is deleted or removed; nothing may revive it.
    ObjectDeleted => None,
    /// An update older than the stored version.
    StaleUpdate => None,
    /// The object acted on is unknown here and is not fetched for this activity.
    UnknownObject => None,
    /// An Undo of something not known (yet); remembered, so it wins over a late original.
    NothingToUndo => None,
    /// An activity undone by a later Undo that arrived first.
    Superseded => None,
    /// A new comment on a locked post.
    PostLocked => None,
    /// A remote fetch timed out (retried).
    FetchTimeout => None,
    /// A remote fetch failed: network error or server error (retried).
    FetchFailed => None,
    /// A remote fetch answered 404.
    FetchNotFound => None,
    /// A remote fetch was not attempted or was cut: unsafe target, too large, disabled.
    FetchRefused => None,
    /// A fetched document is not what was expected (wrong type, wrong host, not JSON).
    FetchInvalid => None,
    /// A journal row was claimed too many times without finishing (a crash loop).
    AttemptsExhausted => None,
    /// The bearer token of a local API call is missing or wrong.
    TokenInvalid => Some(401),
    /// A local API is disabled (no `publish_token` configured).
    ApiDisabled => Some(403),
    /// A publish names an actor that is not a local actor with a signing key.
    ActorNotLocal => Some(400),
    /// A published activity has no id on our domain.
    ActivityNotLocal => Some(400),
    /// A published activity's `actor` is not the publishing actor.
    ActorMismatch => Some(400),
    /// A publish has no valid audience (exactly one of a local community or remote inboxes).
    AudienceInvalid => Some(400),
    /// A peer answered a delivery with a 4xx other than 408/429; dropped for that instance.
    DeliveryRefused => None,
    /// The local actor that signs an outbound activity has no usable key; dropped.
    ActorKeyMissing => None,
    /// A delivery target is not a URL, or the SSRF guard refused it; dropped.
    InboxRefused => None,
    /// A remote actor's inbox or shared inbox is not on the actor's own host; never stored,
    /// never delivered to.
    InboxForeignHost => None,
    /// An Announce carried an activity no community vouches for (account-level verbs,
    /// follows, reports, site bans, private messages) or one by an actor of our domain.
    NotAnnounceable => None,
    /// An activity needed more remote fetches than its budget (`pipeline_fetch_per_activity`,
    /// `pipeline_fetch_per_batch`); deferred to the slow lane.
    FetchBudget => None,
    /// A number in the activity is beyond f64's range (overflow, or underflow to zero).
    NumberOutOfRange => Some(400),
    /// The instance sent more activities than `inbox_rate_limit_per_instance` allows.
    RateLimited => Some(429),
    /// The activity's id is one sluice reserves for activities it derives itself.
    IdReserved => Some(400),
    /// The request's headers are larger than the server accepts.
    HeadersTooLarge => Some(431),
    /// An inbox this process does not know yet could not be looked up: unknown-name
    /// lookups are rate-bounded; retry later.
    InboxLookupBusy => Some(503),
    /// The admin console's login was given the wrong `admin_token`.
    AdminTokenInvalid => Some(403),
    /// An admin console page was asked for without a live session (never logged in, logged
    /// out or expired).
    AdminSessionInvalid => Some(403),
    /// An admin console form was posted without its session's CSRF token.
    AdminCsrfInvalid => Some(403),
    /// `POST /api/v1/publish`: what the activity would do here is refused by the rules the
    /// pipeline applies to the same activity from a remote actor (the cause in the message).
    LocalEffectRefused => Some(422),
    /// `POST /api/v1/publish`: what the activity does here cannot be decided now (a Follow's
    /// community could not be fetched); nothing was appended.
    LocalEffectUnavailable => Some(503),
    /// A forwarded activity (signed by someone other than its actor) is not served by its
    /// origin as the same activity by the same actor; not applied.
    ForwardUnverified => None,
    /// A rule of the admin's policy chain refuses the activity (an instance or actor rule,
    /// a rule of a community); the inbox answers it before verifying anything.
    PolicyRejected => Some(403),
    /// The policy chain's keyword rule refused the activity's text.
    PolicyKeyword => None,
    /// The policy chain's hashtag rule refused one of the activity's hashtags.
    PolicyHashtag => None,
    /// The policy chain refused content published too long ago.
    PolicyObjectAge => None,
    /// The policy chain refused content addressed to or mentioning too many people.
    PolicyHellthread => None,
    /// The policy chain refused an activity of an account created too recently.
    PolicyNewAccount => None,
    /// A policy of the chain holds the activity for an admin's review (`sluice review`).
    PolicyHeld => None,
    /// An admin rejected a held activity (`sluice review reject`).
    ReviewRejected => None,
    /// An admin's plugin rejected the activity (its reason in the message).
    PluginRejected => None,
    /// `journal = "local"`: the activity could not be written to the local journal (disk
    /// full, read-only, I/O error); nothing was acknowledged.
    LocalJournalUnavailable => Some(503),
    /// `journal = "local"`: the local journal holds `local_journal_max_bytes` waiting for
    /// the database; retry after `Retry-After`.
    LocalJournalFull => Some(429),
}

impl std::fmt::Display for Rc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
