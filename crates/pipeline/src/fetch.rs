//! Remote fetches, as the pipeline needs them: a JSON document by its id.
//!
//! The pipeline only defines what it needs; the real implementation (signed GET as the
//! instance actor, SSRF guard, timeouts, size cap, per-host limits, latency by host) lives in
//! the networking crate and is handed in at start. The pipeline bounds every fetch by
//! `pipeline_fetch_timeout_seconds` itself as well, and accounts the fetch stage's wall time
//! as network time (see `sluice_metrics::spend`): implementations need not.

use futures::future::BoxFuture;
use sluice_apub::Rc;
use sluice_net::NetError;
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
    /// For the admin: what was fetched and what it met.
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

    /// Not a usable document (permanent).
    pub fn invalid(message: impl Into<String>) -> Self {
        FetchFailure {
            rc: Rc::FetchInvalid,
            transient: false,
            message: message.into(),
        }
    }

    /// An answer with a non-success HTTP status, as [`FetchFailure::from_net`] reads it.
    pub fn from_status(status: u16, url: &Url) -> Self {
        Self::from_net(url, NetError::Status(status))
    }

    /// A failed GET of `url`: worth retrying exactly when the network layer says so
    /// ([`NetError::is_transient`]: timeouts, network errors, 408, 429, 5xx); 404 and 410
    /// are answers about the object.
    pub fn from_net(url: &Url, e: NetError) -> Self {
        let transient = e.is_transient();
        let rc = match &e {
            NetError::Timeout => Rc::FetchTimeout,
            NetError::Status(404) => Rc::FetchNotFound,
            NetError::Status(410) => Rc::ObjectDeleted,
            NetError::NotJson(_) => Rc::FetchInvalid,
            _ if transient => Rc::FetchFailed,
            // Not attempted or cut short: unsafe target, too large, any other status.
            NetError::Status(_)
            | NetError::Connect(_)
            | NetError::Refused(_)
            | NetError::TooLarge(_) => Rc::FetchRefused,
        };
        FetchFailure {
            rc,
            transient,
            message: format!("GET {url}: {e}"),
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
            r.map_err(|e| FetchFailure::from_net(url, e))
        })
    }
}
