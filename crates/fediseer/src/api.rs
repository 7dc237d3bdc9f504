//! The Fediseer's read endpoints, as its public code serves them (`/api/v1/...`):
//!
//! - `approvals/<domains>`: the endorsements the listed instances gave;
//! - `censures_given/<domains>`: the censures they gave;
//! - `hesitations_given/<domains>`: the hesitations they gave.
//!
//! Each answers `{"instances": [{"domain": "x.example", "<kind>_reasons": ["..."], ...}]}`
//! (or `{"domains": [...]}` / `{"csv": "a,b"}` when asked for just the domains). sluice asks
//! for one giver at a time, so it knows who gave what, and pages with `page`/`limit` (the
//! Fediseer pages unfiltered censure lists; other lists ignore the parameters and answer
//! whole). Every response is capped in bytes and every list in entries.

use crate::MAX_ENTRIES_PER_SOURCE;
use serde_json::Value;
use sluice_net::{Client, NetError};
use std::collections::HashSet;
use url::Url;

/// Entries asked for per page.
pub const PAGE_SIZE: usize = 1000;

/// The largest response read (one page).
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Reasons kept per listed domain, and characters per reason.
const MAX_REASONS: usize = 20;
const MAX_REASON_CHARS: usize = 200;

/// What a list says about the listed instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Endorsements (trust).
    Endorsement,
    /// Censures (strong disapproval).
    Censure,
    /// Hesitations (mistrust).
    Hesitation,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Endorsement => "approvals",
            Kind::Censure => "censures_given",
            Kind::Hesitation => "hesitations_given",
        }
    }

    fn reasons_field(self) -> &'static str {
        match self {
            Kind::Endorsement => "endorsement_reasons",
            Kind::Censure => "censure_reasons",
            Kind::Hesitation => "hesitation_reasons",
        }
    }

    /// A word for `instance list` and the logs.
    pub fn verb(self) -> &'static str {
        match self {
            Kind::Endorsement => "endorsed",
            Kind::Censure => "censured",
            Kind::Hesitation => "hesitated",
        }
    }
}

/// One listed instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// As the Fediseer spells it (normalised by [`crate::plan`]).
    pub domain: String,
    /// The reasons given (may be empty).
    pub reasons: Vec<String>,
}

/// One giver's list of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    /// The feeler or source.
    pub by: String,
    /// What the list is.
    pub kind: Kind,
    /// The listed instances, each once, at most [`MAX_ENTRIES_PER_SOURCE`].
    pub listed: Vec<Listed>,
}

/// Why a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request failed (unreachable, timeout, non-2xx, too large, not JSON).
    #[error("GET {url}: {source}")]
    Net {
        /// What was asked.
        url: String,
        /// Why it failed.
        #[source]
        source: NetError,
    },
    /// The JSON is not one of the Fediseer's list shapes.
    #[error("GET {url}: not a Fediseer list ({what})")]
    Shape {
        /// What was asked.
        url: String,
        /// What is wrong.
        what: &'static str,
    },
}

/// Reads `by`'s list of `kind` from the Fediseer at `base`, page by page, until a short
/// page, a page with nothing new (a list served whole), or the cap.
pub async fn given(client: &Client, base: &Url, kind: Kind, by: &str) -> Result<Given, ApiError> {
    let mut listed = Vec::new();
    let mut seen = HashSet::new();
    for page in 1.. {
        let url = page_url(base, kind, by, page);
        let body = client
            .get_json(&url, MAX_PAGE_BYTES)
            .await
            .map_err(|source| ApiError::Net {
                url: url.to_string(),
                source,
            })?;
        let items = parse(&body, kind).map_err(|what| ApiError::Shape {
            url: url.to_string(),
            what,
        })?;
        let n = items.len();
        let before = listed.len();
        for item in items {
            if listed.len() >= MAX_ENTRIES_PER_SOURCE {
                tracing::warn!(
                    by,
                    kind = kind.verb(),
                    cap = MAX_ENTRIES_PER_SOURCE,
                    "Fediseer list longer than the cap; the rest is ignored"
                );
                break;
            }
            if seen.insert(item.domain.clone()) {
                listed.push(item);
            }
        }
        if n < PAGE_SIZE || listed.len() == before || listed.len() >= MAX_ENTRIES_PER_SOURCE {
            break;
        }
    }
    Ok(Given {
        by: by.to_string(),
        kind,
        listed,
    })
}

fn page_url(base: &Url, kind: Kind, by: &str, page: usize) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["api", "v1", kind.path(), by]);
    }
    url.query_pairs_mut()
        .clear()
        .append_pair("page", &page.to_string())
        .append_pair("limit", &PAGE_SIZE.to_string());
    url
}

/// The listed instances of one page, in any of the three shapes. Entries without a domain
/// string are skipped; a body that is none of the shapes is an error.
pub fn parse(body: &Value, kind: Kind) -> Result<Vec<Listed>, &'static str> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    if let Some(instances) = body.get("instances") {
        let items = instances.as_array().ok_or("`instances` is not a list")?;
        return Ok(items
            .iter()
            .filter_map(|i| {
                Some(Listed {
                    domain: text(i.get("domain")?)?,
                    reasons: reasons(i.get(kind.reasons_field())),
                })
            })
            .collect());
    }
    let bare = |domain: String| Listed {
        domain,
        reasons: Vec::new(),
    };
    if let Some(domains) = body.get("domains") {
        let items = domains.as_array().ok_or("`domains` is not a list")?;
        return Ok(items.iter().filter_map(text).map(bare).collect());
    }
    if let Some(csv) = body.get("csv") {
        let csv = csv.as_str().ok_or("`csv` is not a string")?;
        return Ok(csv
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| bare(d.to_string()))
            .collect());
    }
    Err("no `instances`, `domains` or `csv`")
}

fn reasons(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|r| r.chars().take(MAX_REASON_CHARS).collect::<String>())
        .filter(|r| !r.trim().is_empty())
        .take(MAX_REASONS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_shapes_parse() {
        let full = json!({"instances": [
            {"id": 3, "domain": "a.example", "software": "lemmy",
             "censure_reasons": ["spam", null, "  "], "censure_count": 2},
            {"domain": 7},
            {"domain": "b.example"},
        ]});
        let got = parse(&full, Kind::Censure).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].domain, "a.example");
        assert_eq!(got[0].reasons, vec!["spam"]);
        assert!(got[1].reasons.is_empty());
        let domains = parse(&json!({"domains": ["x.example", 1]}), Kind::Endorsement).unwrap();
        assert_eq!(domains.len(), 1);
        let csv = parse(&json!({"csv": "x.example, y.example,"}), Kind::Censure).unwrap();
        assert_eq!(csv.len(), 2);
        for garbage in [json!([]), json!({"instances": {}}), json!({"message": "x"})] {
            assert!(parse(&garbage, Kind::Censure).is_err(), "{garbage}");
        }
    }

    /// A Fediseer on loopback whose censure list has `n` entries, paged by `page`/`limit`
    /// like the real one when `paged`, served whole on every page otherwise.
    fn fediseer_with(n: usize, paged: bool) -> (Url, actix_web::dev::ServerHandle) {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        let answer = move |req: HttpRequest| {
            let q: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(req.query_string().as_bytes())
                    .into_owned()
                    .collect();
            let get = |k: &str| q.get(k).and_then(|v| v.parse::<usize>().ok());
            let all = (0..n).map(|i| json!({"domain": format!("d{i}.example")}));
            let items: Vec<Value> = match (paged, get("page"), get("limit")) {
                (true, Some(page), Some(limit)) => {
                    all.skip((page - 1) * limit).take(limit).collect()
                }
                _ => all.collect(),
            };
            async move { HttpResponse::Ok().json(json!({"instances": items})) }
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = HttpServer::new(move || App::new().default_service(web::to(answer)))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        (base, handle)
    }

    #[tokio::test]
    async fn lists_are_read_page_by_page_up_to_the_cap_and_whole_lists_do_not_loop() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::new(sluice_net::NetConfig {
            dev_mode: true,
            ..Default::default()
        })
        .unwrap();
        for (n, paged, want) in [
            (2500, true, 2500),
            (2500, false, 2500),
            (12_345, true, MAX_ENTRIES_PER_SOURCE),
            (0, true, 0),
        ] {
            let (base, server) = fediseer_with(n, paged);
            let got = given(&client, &base, Kind::Censure, "s.example")
                .await
                .unwrap();
            assert_eq!(got.listed.len(), want, "{n} entries, paged: {paged}");
            server.stop(false).await;
        }
    }

    #[test]
    fn page_urls_name_the_giver_and_keep_a_base_path() {
        let base = Url::parse("https://fediseer.com").unwrap();
        assert_eq!(
            page_url(&base, Kind::Endorsement, "feeler.example", 2).as_str(),
            "https://fediseer.com/api/v1/approvals/feeler.example?page=2&limit=1000"
        );
        let sub = Url::parse("http://127.0.0.1:9/fs/").unwrap();
        assert_eq!(
            page_url(&sub, Kind::Hesitation, "a.example", 1).as_str(),
            "http://127.0.0.1:9/fs/api/v1/hesitations_given/a.example?page=1&limit=1000"
        );
    }
}
