//! The threadiverse's vocabulary as sluice speaks it: pure functions and types, no
//! database, no sockets.
//!
//! - [`urls`]: the ids of our own actors and endpoints.
//! - [`actor`]: ActivityPub documents for local actors (Group, Person, Application).
//! - [`discovery`]: webfinger and nodeinfo answers.
//! - [`keypair`]: RSA key pairs for HTTP signatures.
//! - [`served`]: which of the activities we sent are served at their id.
//! - [`vocab`]: incoming activities and objects, parsed into typed values.
//!
//! Parsing follows one rule: liberal in what is accepted (arrays or single values, embedded
//! objects or URIs, missing optional fields), strict in what is verified.

#![deny(missing_docs)]

pub mod actor;
pub mod context;
pub mod discovery;
pub mod keypair;
pub mod rc;
pub mod served;
pub mod signature;
pub mod urls;
pub mod vocab;

pub use rc::Rc;
pub use urls::LocalUrls;

/// ActivityPub media type.
pub const ACTIVITY_JSON: &str = "application/activity+json";
/// The JSON-LD media type with the ActivityStreams profile.
pub const LD_JSON: &str = r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#;
/// The public audience.
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
