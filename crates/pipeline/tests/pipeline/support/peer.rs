//! The documents the pipeline fetches in these tests, served by testkit's `TestPeer` for any
//! host (the fixtures keep their host names): the document of URL `u` is at the peer's path
//! `/doc/<u in hex>`, and the `Fetch` below asks for that path.

use futures::future::BoxFuture;
use serde_json::Value;
use sluice_pipeline::{Fetch, FetchFailure};
use sluice_testkit::peer::{Behaviour, TestPeer};
use std::time::Duration;
use url::Url;

const PREFIX: &str = "/doc/";

/// Where the peer serves the document of `url`.
fn path_of(url: &str) -> String {
    let hex: String = url.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// The URL whose document is served at `path` (`None` for other paths).
fn url_of(path: &str) -> Option<String> {
    let hex = path.strip_prefix(PREFIX)?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The peer.
#[derive(Clone)]
pub struct Peer {
    peer: TestPeer,
}

impl Peer {
    pub async fn start() -> Peer {
        Peer {
            peer: TestPeer::start().await,
        }
    }

    /// Serves `doc` at its `id`.
    pub fn serve(&self, doc: Value) {
        let id = doc["id"].as_str().unwrap().to_string();
        self.serve_at(&id, doc);
    }

    /// Serves `doc` at `url`.
    pub fn serve_at(&self, url: &str, doc: Value) {
        self.peer.serve_json(&path_of(url), doc);
    }

    /// Answers 410 for `url`.
    pub fn gone(&self, url: &str) {
        self.peer.set_route_behaviour(
            &path_of(url),
            Behaviour {
                status: Some(410),
                delay: None,
            },
        );
    }

    /// Delays the answer for `url`.
    pub fn delay(&self, url: &str, d: Duration) {
        self.peer.set_route_behaviour(
            &path_of(url),
            Behaviour {
                status: None,
                delay: Some(d),
            },
        );
    }

    /// Answers `url` at once again.
    pub fn undelay(&self, url: &str) {
        self.peer.clear_route_behaviour(&path_of(url));
    }

    /// Every URL asked for so far.
    pub fn hits(&self) -> Vec<String> {
        self.peer
            .fetched()
            .iter()
            .filter_map(|p| url_of(p))
            .collect()
    }

    /// A fetcher that asks this peer.
    pub fn fetcher(&self) -> TestFetch {
        TestFetch {
            client: sluice_testkit::http_client(),
            peer: self.peer.clone(),
        }
    }
}

/// The pipeline's `Fetch`, over HTTP to the peer.
pub struct TestFetch {
    client: reqwest::Client,
    peer: TestPeer,
}

impl Fetch for TestFetch {
    fn fetch_json<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<Value, FetchFailure>> {
        Box::pin(async move {
            let resp = self
                .client
                .get(self.peer.url(&path_of(url.as_str())))
                .header("accept", sluice_apub::ACTIVITY_JSON)
                .send()
                .await
                .map_err(|e| FetchFailure::transient(format!("GET {url}: {e}")))?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(FetchFailure::from_status(status, url));
            }
            resp.json::<Value>()
                .await
                .map_err(|e| FetchFailure::invalid(format!("GET {url}: {e}")))
        })
    }
}
