//! Remote fetches, as the pipeline needs them: a JSON document by its id.
//!
//! The pipeline only defines what it needs; the real implementation (signed GET as the
//! instance actor, SSRF guard, timeouts, size cap, per-host limits, latency by host) lives in
//! the networking crate and is handed in at start. The pipeline bounds every fetch by
//! `pipeline_fetch_timeout_seconds` itself as well, and accounts the fetch stage's wall time
//! as network time (see `sluice_metrics::spend`): implementations need not.

use futures::future::BoxFuture;
use sluice_apub::Rc;
use url::Url;

/// Fetches ActivityPub documents.
pub trait Fetch: Send + Sync {
    /// GETs `url` as `application/activity+json` and returns the parsed body.
    fn fetch_json<'a>(
        &'a self,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<serde_json::Value, FetchFailure>>;
}

/// Why a fetch failed, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchFailure {
    /// The journal code to record.
    pub rc: Rc,
    /// Retry later (timeouts, network errors, 5xx, 429).
    pub transient: bool,
    /// For the admin.
    pub message: String,
}

impl FetchFailure {
    /// A timeout (transient).
    pub fn timeout(message: impl Into<String>) -> Self {
        FetchFailure {
            rc: Rc::FetchTimeout,
            transient: true,
            message: message.into(),
        }
    }

    /// A network error or an answer worth retrying (5xx, 429).
    pub fn transient(message: impl Into<String>) -> Self {
        FetchFailure {
            rc: Rc::FetchFailed,
            transient: true,
            message: message.into(),
        }
    }

    /// 404 (permanent).
    pub fn not_found(message: impl Into<String>) -> Self {
        FetchFailure {
            rc: Rc::FetchNotFound,
            transient: false,
            message: message.into(),
        }
    }

    /// 410 Gone: the object was deleted (permanent; read as a tombstone).
    pub fn gone(message: impl Into<String>) -> Self {
        FetchFailure {
            rc: Rc::ObjectDeleted,
            transient: false,
            message: message.into(),
        }
    }

    /// Not attempted or cut short: unsafe target, too large, other 4xx (permanent).
    pub fn refused(message: impl Into<String>) -> Self {
        FetchFailure {
            rc: Rc::FetchRefused,
            transient: false,
            message: message.into(),
        }
    }

    /// Not a usable document (permanent).
    pub fn invalid(message: impl Into<String>) -> Self {
        FetchFailure {
            rc: Rc::FetchInvalid,
            transient: false,
            message: message.into(),
        }
    }

    /// The HTTP status mapped the way peers mean it: 404 and 410 are answers about the
    /// object, 408/429/5xx are worth retrying, any other 4xx is permanent.
    pub fn from_status(status: u16, url: &Url) -> Self {
        let msg = format!("GET {url}: HTTP {status}");
        match status {
            404 => Self::not_found(msg),
            410 => Self::gone(msg),
            408 | 429 | 500..=599 => Self::transient(msg),
            _ => Self::refused(msg),
        }
    }
}

/// A fetcher that fetches nothing: every fetch fails as transient `FetchRefused`, so rows
/// that need one are retried (and, past their attempts, kept as `failed` for replay) until
/// a real fetcher is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disabled;

impl Fetch for Disabled {
    fn fetch_json<'a>(
        &'a self,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<serde_json::Value, FetchFailure>> {
        Box::pin(async move {
            Err(FetchFailure {
                rc: Rc::FetchRefused,
                transient: true,
                message: format!("remote fetches are not configured (wanted {url})"),
            })
        })
    }
}

/// The real fetcher: a GET signed as the instance actor through the guarded client (SSRF
/// guard, timeouts, size cap, per-host limits, latency by host in
/// `sluice_fetch_duration_seconds`).
pub struct NetFetcher {
    client: sluice_net::Client,
    signer: sluice_apub::signature::Signer,
}

impl NetFetcher {
    /// Fetches with `client`, signing as `signer` (the instance actor).
    pub fn new(client: sluice_net::Client, signer: sluice_apub::signature::Signer) -> Self {
        NetFetcher { client, signer }
    }
}

impl Fetch for NetFetcher {
    fn fetch_json<'a>(
        &'a self,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<serde_json::Value, FetchFailure>> {
        Box::pin(async move {
            // The pipeline accounts the fetch stage's wall time as network time itself.
            let r =
                sluice_metrics::spend::untracked(self.client.fetch_json(url, &self.signer)).await;
            r.map_err(|e| {
                use sluice_net::NetError as N;
                let msg = format!("GET {url}: {e}");
                match e {
                    N::Status(status) => FetchFailure::from_status(status, url),
                    N::Timeout => FetchFailure::timeout(msg),
                    N::Connect(_) => FetchFailure::transient(msg),
                    N::Refused(_) | N::TooLarge(_) => FetchFailure::refused(msg),
                    N::NotJson(_) => FetchFailure::invalid(msg),
                }
            })
        })
    }
}
