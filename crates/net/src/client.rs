//! The guarded HTTP client: signed fetches and deliveries.

use crate::NetError;
use crate::guard::{Blocked, GuardedResolver, check_port, check_url};
use bytes::Bytes;
use sluice_apub::signature::Signer;
use sluice_metrics::{global, spend};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use url::Url;

/// Limits and switches for outgoing requests.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Allow http, IP literals and non-public addresses (tests and local setups only).
    pub dev_mode: bool,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Total time for one request, answer included.
    pub request_timeout: Duration,
    /// Largest response body read (fetches; delivery answers are read up to 64 KiB).
    pub max_response_bytes: usize,
    /// Concurrent fetches per host.
    pub per_host_fetches: usize,
    /// `User-Agent`.
    pub user_agent: String,
    /// An explicitly configured proxy for every request. Unset (the default): no proxy,
    /// whatever `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` say, because a proxy resolves names
    /// itself and so would bypass the guard's address check.
    pub proxy: Option<Url>,
    /// Ports requests may go to outside `dev_mode` (default 80 and 443).
    pub outgoing_ports: Vec<u16>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            dev_mode: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            per_host_fetches: 8,
            user_agent: format!("sluice/{}", env!("CARGO_PKG_VERSION")),
            proxy: None,
            outgoing_ports: vec![80, 443],
        }
    }
}

/// The answer to a delivery (any status; the caller decides what it means).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, when the peer sent one (seconds or an HTTP date).
    pub retry_after: Option<Duration>,
    /// Wall time of the request.
    pub elapsed: Duration,
}

/// The outgoing HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: Arc<NetConfig>,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

const AP_ACCEPT: &str = r#"application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams""#;

impl Client {
    /// Builds the client. Needs a rustls crypto provider installed (the binary does it).
    pub fn new(cfg: NetConfig) -> Result<Client, NetError> {
        let (dev, ports) = (cfg.dev_mode, cfg.outgoing_ports.clone());
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if let Err(e) =
                check_url(attempt.url(), dev).and_then(|()| check_port(attempt.url(), &ports, dev))
            {
                attempt.error(e)
            } else {
                attempt.follow()
            }
        });
        let mut b = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .redirect(redirect)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60));
        if !dev {
            b = b.dns_resolver(Arc::new(GuardedResolver));
        }
        b = match &cfg.proxy {
            Some(p) => b.proxy(
                reqwest::Proxy::all(p.as_str())
                    .map_err(|e| NetError::Refused(format!("proxy {p}: {e}")))?,
            ),
            None => b.no_proxy(),
        };
        let http = b
            .build()
            .map_err(|e| NetError::Connect(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            cfg: Arc::new(cfg),
            hosts: Arc::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// The checks every request passes before any connection: scheme, host form, port.
    fn check(&self, url: &Url) -> Result<(), NetError> {
        check_url(url, self.cfg.dev_mode)?;
        check_port(url, &self.cfg.outgoing_ports, self.cfg.dev_mode)
    }

    fn host_slot(&self, host: &str) -> Arc<Semaphore> {
        let mut map = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_host_fetches)))
            .clone()
    }

    /// Fetches an ActivityPub document with a GET signed by `signer` (the instance actor).
    pub async fn fetch_json(
        &self,
        url: &Url,
        signer: &Signer,
    ) -> Result<serde_json::Value, NetError> {
        self.check(url)?;
        let host = sluice_apub::urls::authority(url);
        let slot = self.host_slot(&host);
        let _permit = slot
            .acquire()
            .await
            .map_err(|_| NetError::Connect("client shut down".into()))?;
        let start = Instant::now();
        let result = self.fetch_inner(url, signer).await;
        let elapsed = start.elapsed();
        spend::add_net(elapsed);
        let label = match &result {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        let m = global();
        m.fetch_duration_seconds
            .with_label_values(&[&m.hosts.label(&host), label])
            .observe(elapsed.as_secs_f64());
        result
    }

    async fn fetch_inner(&self, url: &Url, signer: &Signer) -> Result<serde_json::Value, NetError> {
        let signed = signer.sign("GET", url, None, SystemTime::now());
        let response = self
            .http
            .get(url.clone())
            .header("Accept", AP_ACCEPT)
            .header("Date", &signed.date)
            .header("Signature", &signed.signature)
            .send()
            .await
            .map_err(classify)?;
        json_body(response, self.cfg.max_response_bytes).await
    }

    /// GETs a plain JSON document (a public REST API such as the Fediseer's), unsigned,
    /// through the same guard and timeouts, reading at most `cap` bytes.
    pub async fn get_json(&self, url: &Url, cap: usize) -> Result<serde_json::Value, NetError> {
        self.check(url)?;
        let start = Instant::now();
        let result = async {
            let response = self
                .http
                .get(url.clone())
                .header("Accept", "application/json")
                .send()
                .await
                .map_err(classify)?;
            json_body(response, cap).await
        }
        .await;
        spend::add_net(start.elapsed());
        result
    }

    /// POSTs an activity to an inbox, signed by `signer` (the activity's local actor).
    /// Any HTTP answer is `Ok`; the caller decides what its status means.
    pub async fn post_activity(
        &self,
        inbox: &Url,
        body: Bytes,
        signer: &Signer,
    ) -> Result<Delivered, NetError> {
        self.check(inbox)?;
        let start = Instant::now();
        let signed = signer.sign("POST", inbox, Some(&body), SystemTime::now());
        let request = self
            .http
            .post(inbox.clone())
            .header("Content-Type", sluice_apub::ACTIVITY_JSON)
            .header("Accept", AP_ACCEPT)
            .header("Date", &signed.date)
            .header("Digest", signed.digest.as_deref().unwrap_or_default())
            .header("Signature", &signed.signature)
            .body(body);
        post(request, start).await
    }

    /// POSTs a JSON body with the caller's extra headers (a webhook delivery, signed by its
    /// own scheme), through the same guard and timeouts. Any HTTP answer is `Ok`.
    pub async fn post_json(
        &self,
        url: &Url,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> Result<Delivered, NetError> {
        self.check(url)?;
        let start = Instant::now();
        let mut request = self
            .http
            .post(url.clone())
            .header("Content-Type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        post(request.body(body), start).await
    }
}

/// Sends a POST and reads its answer: the status, `Retry-After`, and a bounded body
/// (dropped, read so the connection can be reused).
async fn post(request: reqwest::RequestBuilder, start: Instant) -> Result<Delivered, NetError> {
    let response = match request.send().await.map_err(classify) {
        Ok(r) => r,
        Err(e) => {
            spend::add_net(start.elapsed());
            return Err(e);
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let _ = read_capped(response, 64 * 1024).await;
    let elapsed = start.elapsed();
    spend::add_net(elapsed);
    Ok(Delivered {
        status,
        retry_after,
        elapsed,
    })
}

/// Reads at most `cap` bytes of the body; more is an error, whatever Content-Length said.
/// A 2xx answer's body as JSON, at most `cap` bytes; any other status is its error.
async fn json_body(response: reqwest::Response, cap: usize) -> Result<serde_json::Value, NetError> {
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(NetError::Status(status));
    }
    let body = read_capped(response, cap).await?;
    serde_json::from_slice(&body).map_err(|e| NetError::NotJson(e.to_string()))
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, NetError> {
    if response.content_length().is_some_and(|n| n as usize > cap) {
        return Err(NetError::TooLarge(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > cap {
            return Err(NetError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After: <seconds>` or `Retry-After: <HTTP date>`.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v.trim()).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

fn classify(e: reqwest::Error) -> NetError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return NetError::Refused(b.to_string());
        }
        if let Some(n) = s.downcast_ref::<NetError>() {
            return n.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        NetError::Timeout
    } else {
        NetError::Connect(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_retry_after;
    use std::time::Duration;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(3500) && d <= Duration::from_secs(3600));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
