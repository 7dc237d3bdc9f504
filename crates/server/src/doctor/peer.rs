//! `sluice doctor --peer DOMAIN`: how far a peer is and whether sluice can talk to it, step
//! by step: name resolution, TCP connect, TLS handshake (with the platform's trust store, as
//! sluice's HTTP client uses), nodeinfo fetch.
//!
//! Every step has a timeout and the nodeinfo bodies a size cap. Addresses are checked
//! before connecting: outside dev_mode a peer on a private, loopback or link-local address
//! is refused, as sluice's outgoing requests refuse it.

use super::advice;
use super::report::{PeerTimings, Report, Status, round};
use crate::config::Config;
use sluice_net::is_public;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Per step.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest nodeinfo document read.
const MAX_BODY: usize = 1 << 20;

/// Runs the peer checks, recording timings in `report.peer`.
pub async fn check(cfg: &Config, peer: &str, report: &mut Report) {
    let mut t = PeerTimings {
        domain: peer.to_string(),
        ..PeerTimings::default()
    };
    run(cfg, peer, &mut t, report).await;
    report.peer = Some(t);
}

async fn run(cfg: &Config, peer: &str, t: &mut PeerTimings, report: &mut Report) {
    let url = match base_url(peer, cfg.dev_mode) {
        Ok(u) => u,
        Err(msg) => return report.push("peer", Status::Fail, msg),
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return report.push("peer", Status::Fail, format!("{peer}: no host name"));
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();

    // 1. DNS
    let start = Instant::now();
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
            .await
        {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return report.push("peer_dns", Status::Fail, format!("{host}: {e}")),
            Err(_) => {
                return report.push(
                    "peer_dns",
                    Status::Fail,
                    format!("{host}: no answer within {} s", STEP_TIMEOUT.as_secs()),
                );
            }
        };
    let dns_ms = start.elapsed().as_secs_f64() * 1e3;
    t.dns_ms = Some(round(dns_ms));
    if addrs.is_empty() {
        return report.push("peer_dns", Status::Fail, format!("{host} has no address"));
    }
    if !cfg.dev_mode
        && let Some(private) = addrs.iter().find(|a| !is_public(a.ip()))
    {
        return report.push(
            "peer_dns",
            Status::Fail,
            format!(
                "{host} resolves to {}, a private, loopback or link-local address: sluice \
                 refuses such peers outside dev_mode",
                private.ip()
            ),
        );
    }
    let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    let (s, m) = advice::timed(
        &format!("resolving {host} ({})", list.join(", ")),
        dns_ms,
        advice::DNS_SLOW_MS,
        "every new connection to a peer pays it; use a caching resolver.",
    );
    report.push("peer_dns", s, m);

    // 2. TCP
    let mut connected = None;
    let mut last_err = String::new();
    for addr in &addrs {
        let start = Instant::now();
        match tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                connected = Some((s, start.elapsed(), *addr));
                break;
            }
            Ok(Err(e)) => last_err = format!("{addr}: {e}"),
            Err(_) => last_err = format!("{addr}: no answer within {} s", STEP_TIMEOUT.as_secs()),
        }
    }
    let Some((stream, tcp, addr)) = connected else {
        return report.push(
            "peer_tcp",
            Status::Fail,
            format!("cannot connect: {last_err}"),
        );
    };
    let tcp_ms = tcp.as_secs_f64() * 1e3;
    t.tcp_ms = Some(round(tcp_ms));
    let (s, m) = advice::peer_tcp(tcp_ms, &addr.to_string());
    report.push("peer_tcp", s, m);

    // 3. TLS
    if url.scheme() == "https" {
        match tls_handshake(stream, &host).await {
            Ok(d) => {
                let ms = d.as_secs_f64() * 1e3;
                t.tls_ms = Some(round(ms));
                let (s, m) = advice::timed(
                    "the TLS handshake",
                    ms,
                    advice::TLS_SLOW_MS,
                    "the peer is far or overloaded.",
                );
                report.push("peer_tls", s, m);
            }
            Err(e) => {
                return report.push(
                    "peer_tls",
                    Status::Fail,
                    format!(
                        "TLS handshake with {host} failed: {e}; sluice cannot fetch from or \
                         deliver to this peer"
                    ),
                );
            }
        }
    } else {
        drop(stream);
        report.push(
            "peer_tls",
            Status::Ok,
            "not used: plain http (allowed in dev_mode only).",
        );
    }

    // 4. nodeinfo
    let start = Instant::now();
    match nodeinfo(&url).await {
        Ok(software) => {
            let ms = start.elapsed().as_secs_f64() * 1e3;
            t.nodeinfo_ms = Some(round(ms));
            let (s, m) = advice::timed(
                &format!("fetching nodeinfo ({software})"),
                ms,
                advice::NODEINFO_SLOW_MS,
                "fetches from this peer (actors, keys, objects) will be slow too.",
            );
            t.software = Some(software);
            report.push("peer_nodeinfo", s, m);
        }
        // Not fatal: some servers publish no nodeinfo and still federate.
        Err(e) => report.push("peer_nodeinfo", Status::Warn, e),
    }
}

/// `https://DOMAIN` for a bare domain (`http://` in dev_mode); a full URL is taken as given,
/// but plain http only in dev_mode.
fn base_url(peer: &str, dev_mode: bool) -> Result<url::Url, String> {
    let text = if peer.contains("://") {
        peer.to_string()
    } else if dev_mode {
        format!("http://{peer}")
    } else {
        format!("https://{peer}")
    };
    let url = url::Url::parse(&text).map_err(|e| format!("{peer}: not a domain or URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if dev_mode => Ok(url),
        "http" => Err(format!(
            "{peer}: plain http peers are allowed in dev_mode only"
        )),
        other => Err(format!("{peer}: unsupported scheme {other}")),
    }
}

async fn tls_handshake(stream: TcpStream, host: &str) -> Result<Duration, String> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let config = rustls::ClientConfig::with_platform_verifier()
        .map_err(|e| format!("loading the trust store: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let start = Instant::now();
    match tokio::time::timeout(STEP_TIMEOUT, connector.connect(name, stream)).await {
        Ok(Ok(_)) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no handshake within {} s", STEP_TIMEOUT.as_secs())),
    }
}

/// Fetches `/.well-known/nodeinfo` and the 2.x document it links; returns "name version".
async fn nodeinfo(base: &url::Url) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(STEP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        // Direct, as the server's own client goes (HTTP_PROXY is never used: docs/security.md).
        .no_proxy()
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION"), " (doctor)"))
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let well_known = base
        .join("/.well-known/nodeinfo")
        .map_err(|e| e.to_string())?;
    let links = get_json(&client, &well_known).await?;
    let href = links["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| {
            l["rel"]
                .as_str()
                .is_some_and(|r| r.contains("nodeinfo.diaspora.software/ns/schema/2."))
        })
        .filter_map(|l| l["href"].as_str())
        .max()
        .ok_or_else(|| format!("{well_known} links no nodeinfo 2.x document"))?;
    let doc_url = url::Url::parse(href).map_err(|e| format!("nodeinfo link {href}: {e}"))?;
    if doc_url.host_str() != base.host_str() {
        return Err(format!(
            "nodeinfo links to another host ({href}); not followed"
        ));
    }
    let doc = get_json(&client, &doc_url).await?;
    let name = doc["software"]["name"]
        .as_str()
        .unwrap_or("unknown software");
    let version = doc["software"]["version"].as_str().unwrap_or("?");
    Ok(format!("{name} {version}"))
}

async fn get_json(client: &reqwest::Client, url: &url::Url) -> Result<serde_json::Value, String> {
    let mut resp = client
        .get(url.clone())
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("GET {url}: larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_default_to_https_and_http_needs_dev_mode() {
        assert_eq!(
            base_url("lemmy.world", false).unwrap().as_str(),
            "https://lemmy.world/"
        );
        assert_eq!(
            base_url("127.0.0.1:8700", true).unwrap().as_str(),
            "http://127.0.0.1:8700/"
        );
        assert!(base_url("http://lemmy.world", false).is_err());
        assert!(base_url("ftp://x", true).is_err());
    }
}
