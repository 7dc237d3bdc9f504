//! A test peer: an HTTP server on 127.0.0.1 that serves ActivityPub documents for any host,
//! and a reqwest-based `Fetch` that asks it (the URL to fetch travels in a header, so the
//! fixtures keep their host names).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures::future::BoxFuture;
use serde_json::Value;
use sluice_pipeline::{Fetch, FetchFailure};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Hosts whose documents the peer answers for only after this long (a poison host).
pub const SLOW_HOST: &str = "slow.example";
const SLOW_FOR: Duration = Duration::from_secs(30);
const HEADER: &str = "x-fetch-url";

#[derive(Default)]
struct State {
    docs: Mutex<HashMap<String, Value>>,
    gone: Mutex<Vec<String>>,
    hits: Mutex<Vec<String>>,
    /// Paths whose answer waits for this long.
    delays: Mutex<HashMap<String, Duration>>,
}

/// The peer.
#[derive(Clone)]
pub struct Peer {
    state: Arc<State>,
    pub addr: SocketAddr,
}

async fn answer(req: HttpRequest, state: web::Data<Arc<State>>) -> HttpResponse {
    let url = req
        .headers()
        .get(HEADER)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    state.hits.lock().unwrap().push(url.clone());
    let delay = state.delays.lock().unwrap().get(&url).copied();
    let slow = Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        == Some(SLOW_HOST.to_string());
    if let Some(d) = delay.or(slow.then_some(SLOW_FOR)) {
        tokio::time::sleep(d).await;
    }
    if state.gone.lock().unwrap().contains(&url) {
        return HttpResponse::Gone().finish();
    }
    match state.docs.lock().unwrap().get(&url) {
        Some(doc) => HttpResponse::Ok()
            .content_type("application/activity+json")
            .body(doc.to_string()),
        None => HttpResponse::NotFound().finish(),
    }
}

impl Peer {
    pub async fn start() -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Peer { state, addr }
    }

    /// Serves `doc` at its `id`.
    pub fn serve(&self, doc: Value) {
        let id = doc["id"].as_str().unwrap().to_string();
        self.state.docs.lock().unwrap().insert(id, doc);
    }

    /// Serves `doc` at `url`.
    pub fn serve_at(&self, url: &str, doc: Value) {
        self.state.docs.lock().unwrap().insert(url.to_string(), doc);
    }

    /// Answers 410 for `url`.
    pub fn gone(&self, url: &str) {
        self.state.gone.lock().unwrap().push(url.to_string());
    }

    /// Delays the answer for `url`.
    pub fn delay(&self, url: &str, d: Duration) {
        self.state.delays.lock().unwrap().insert(url.to_string(), d);
    }

    /// Answers `url` at once again.
    pub fn undelay(&self, url: &str) {
        self.state.delays.lock().unwrap().remove(url);
    }

    /// Every URL asked for so far.
    pub fn hits(&self) -> Vec<String> {
        self.state.hits.lock().unwrap().clone()
    }

    /// A fetcher that asks this peer.
    pub fn fetcher(&self) -> TestFetch {
        TestFetch {
            client: sluice_testkit::http_client(),
            base: format!("http://{}/", self.addr),
        }
    }
}

/// The pipeline's `Fetch`, over HTTP to the peer.
pub struct TestFetch {
    client: reqwest::Client,
    base: String,
}

impl Fetch for TestFetch {
    fn fetch_json<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<Value, FetchFailure>> {
        Box::pin(async move {
            let resp = self
                .client
                .get(&self.base)
                .header(HEADER, url.as_str())
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
