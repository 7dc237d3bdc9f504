//! Webhooks: events an admin's tools react to (a report arrived, an instance went dead,
//! the pipeline gave up on an activity, a Fediseer sync changed the lists, ...), POSTed as
//! JSON to the configured URLs, signed, in event order per webhook, retried, and visible
//! in `sluice webhook status`. docs/webhooks.md is the receiver's guide.
//!
//! Events are produced by database triggers in the transaction of the change itself (one
//! place, atomic, no code and no round-trip on the paths that make the change); this
//! crate only sends. Modules: [`event`] (the event types and the body sent), [`sign`] (the
//! signature), [`retry`] (every retry decision), [`send`] (the sending stage),
//! [`destination`] (the address guard at start and in `sluice doctor`), [`status`].

#![deny(missing_docs)]

pub mod destination;
pub mod event;
pub mod retry;
pub mod send;
pub mod sign;
pub mod status;

pub use event::EventKind;
use std::time::Duration;
use url::Url;

/// One configured webhook.
#[derive(Clone)]
pub struct Hook {
    /// Its name (`sluice webhook status` lists by it; 1–64 of `a-z 0-9 _ -`).
    pub name: String,
    /// Where events are POSTed.
    pub url: Url,
    /// The events it receives.
    pub events: Vec<EventKind>,
    /// The HMAC key its deliveries are signed with.
    pub secret: String,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("events", &self.events)
            .field("secret", &"(hidden)")
            .finish()
    }
}

/// The sender's settings.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// The webhooks.
    pub hooks: Vec<Hook>,
    /// How often an idle webhook looks for new events.
    pub poll: Duration,
    /// The wait before the first retry; each further retry waits four times longer.
    pub retry_base: Duration,
    /// Who this process is (the lease owner of the webhooks it sends for), the same across
    /// its restarts.
    pub node_id: String,
    /// Delivered and failed events are deleted after this long.
    pub retention: Duration,
}

impl WebhooksConfig {
    /// `(name, event names)` of every webhook, as the database's `webhook` table keeps them.
    pub fn subscriptions(&self) -> Vec<(String, Vec<String>)> {
        self.hooks
            .iter()
            .map(|h| {
                let events = h.events.iter().map(|e| e.as_str().to_string()).collect();
                (h.name.clone(), events)
            })
            .collect()
    }
}

/// Whether `name` is a valid webhook name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
