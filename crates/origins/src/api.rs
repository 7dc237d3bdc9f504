//! An origin's published federation list: Lemmy's `GET /api/v3/federated_instances`,
//! `{"federated_instances": {"linked": [..], "allowed": [{"domain": ..}, ..], "blocked":
//! [..]} | null}`. A non-empty `allowed` means the instance runs in allow-list mode (Lemmy
//! federates only with those); an empty one, a `null` (federation off) or no such API (404,
//! 410: not Lemmy, or hidden) means it publishes no allow list.

use serde_json::Value;
use sluice_net::{Client, NetError};
use sluice_trust::host::InstanceHost;
use url::Url;

/// The largest answer read (big instances list tens of thousands of linked instances).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// The most allowed instances kept per origin; the rest of a longer list is ignored (an
/// instance it allows beyond that gets nothing relayed from it).
pub const MAX_ALLOWED: usize = 100_000;

/// Why a list could not be read (the last list read stays in force).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The request failed (guard, network, status other than 404/410, size, not JSON).
    #[error("{0}")]
    Net(#[from] NetError),
    /// The answer is JSON but not the list's shape.
    #[error("not a federated_instances answer: {0}")]
    Shape(&'static str),
    /// The origin is not a host we can name in a URL.
    #[error("{0:?} is not a host name")]
    Host(String),
}

/// The instances `origin` allows (empty when it publishes no allow list).
pub async fn read(client: &Client, origin: &str, dev_mode: bool) -> Result<Vec<String>, ReadError> {
    let scheme = if dev_mode { "http" } else { "https" };
    let url = Url::parse(&format!("{scheme}://{origin}/api/v3/federated_instances"))
        .map_err(|_| ReadError::Host(origin.chars().take(100).collect()))?;
    match client.get_json(&url, MAX_BYTES).await {
        Ok(v) => allowed(&v),
        Err(e) if e.is_gone() => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The `allowed` domains of an answer, in their normal form, deduplicated, at most
/// [`MAX_ALLOWED`]; entries without a usable domain are skipped.
pub fn allowed(answer: &Value) -> Result<Vec<String>, ReadError> {
    let Some(lists) = answer.as_object() else {
        return Err(ReadError::Shape("not an object"));
    };
    let entries = match lists.get("federated_instances") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(f)) => match f.get("allowed") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(ReadError::Shape("allowed is not a list")),
        },
        Some(_) => return Err(ReadError::Shape("federated_instances is not an object")),
    };
    let mut out: Vec<String> = entries
        .iter()
        .filter_map(|e| e.get("domain").and_then(Value::as_str))
        .filter_map(|d| InstanceHost::parse(d).ok())
        .map(|h| h.as_str().to_string())
        .take(MAX_ALLOWED)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lemmy_answers_read_as_lemmy_means_them() {
        let allow_list = json!({"federated_instances": {
            "linked": [{"id": 1, "domain": "big.example"}],
            "allowed": [
                {"id": 2, "domain": "Friend.Example.", "published": "2024-01-01T00:00:00Z",
                 "federation_state": null},
                {"id": 3, "domain": "other.example:8443"},
                {"id": 4, "domain": "friend.example"},
                {"id": 5},
                {"id": 6, "domain": "not a host"}
            ],
            "blocked": []
        }});
        assert_eq!(
            allowed(&allow_list).unwrap(),
            ["friend.example", "other.example:8443"]
        );
        let open = json!({"federated_instances": {"linked": [], "allowed": [], "blocked": []}});
        assert!(allowed(&open).unwrap().is_empty());
        assert!(
            allowed(&json!({"federated_instances": null}))
                .unwrap()
                .is_empty()
        );
        assert!(allowed(&json!({"federated_instances": {"allowed": 3}})).is_err());
        assert!(allowed(&json!([1, 2])).is_err());
    }
}
