//! Where each fixture host lives in a test.
//!
//! The fixtures name `ds9.lemmy.ml`, `enterprise.lemmy.ml`, `lemmy-alpha:8541`, ... over
//! `http` and `https`. A test decides where each of them is: kept as is (the pipeline's crate
//! tests, whose fetcher answers for any host), a `TestPeer` on `127.0.0.x:PORT`, or sluice
//! itself (the instance whose point of view a scenario takes). Every id is `http://` after
//! the rewrite, so ids stay consistent and fetchable in dev mode.

use serde_json::Value;

/// The hosts the fixtures use, each the authority of its ids.
pub const FIXTURE_HOSTS: &[&str] = &[
    "ds9.lemmy.ml",
    "enterprise.lemmy.ml",
    "voyager.lemmy.ml",
    "lemmy-alpha:8541",
    "lemmy-alpha",
];

/// A rewrite of fixture hosts (`host` → `authority`), applied to fixtures, ids and expected
/// values alike.
#[derive(Clone, Debug)]
pub struct Hosts {
    map: Vec<(String, String)>,
}

impl Default for Hosts {
    fn default() -> Self {
        Hosts::unchanged()
    }
}

impl Hosts {
    /// Every fixture host keeps its name; only `https://` becomes `http://`.
    pub fn unchanged() -> Hosts {
        Hosts {
            map: FIXTURE_HOSTS
                .iter()
                .map(|h| (h.to_string(), h.to_string()))
                .collect(),
        }
    }

    /// `host` (a fixture host) lives at `authority` (`IP:PORT` or a name) from now on.
    ///
    /// # Panics
    /// If `host` is not one of [`FIXTURE_HOSTS`].
    pub fn with(mut self, host: &str, authority: &str) -> Hosts {
        let entry = self
            .map
            .iter_mut()
            .find(|(h, _)| h == host)
            .unwrap_or_else(|| panic!("{host:?} is not a fixture host"));
        entry.1 = authority.to_string();
        self
    }

    /// Where `host` (a fixture host) lives.
    pub fn authority(&self, host: &str) -> &str {
        self.map
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, a)| a.as_str())
            .unwrap_or_else(|| panic!("{host:?} is not a fixture host"))
    }

    /// `text` with every `http(s)://HOST` of a fixture host replaced by `http://AUTHORITY`.
    /// A host matches only as a whole authority (`lemmy-alpha` does not match the start of
    /// `lemmy-alpha:8541`).
    pub fn map(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (host, authority) in &self.map {
            let to = format!("http://{authority}");
            for scheme in ["https://", "http://"] {
                out = replace_authority(&out, &format!("{scheme}{host}"), &to);
            }
        }
        out
    }

    /// The activity fixture `activities/<rel>` with its hosts rewritten.
    ///
    /// # Panics
    /// If the file is missing or not JSON.
    pub fn activity(&self, rel: &str) -> Value {
        let path = crate::lemmy_fixtures().join("activities").join(rel);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&self.map(&text)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Replaces `from` (a scheme and authority) by `to` where the authority ends there.
fn replace_authority(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        let whole = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || ".-:".contains(c));
        out.push_str(&rest[..at]);
        out.push_str(if whole { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_rewritten_as_whole_authorities() {
        let h = Hosts::unchanged()
            .with("lemmy-alpha", "127.0.0.5:1")
            .with("ds9.lemmy.ml", "127.0.0.2:2");
        assert_eq!(
            h.map("https://lemmy-alpha/u/a http://lemmy-alpha:8541/u/b https://ds9.lemmy.ml"),
            "http://127.0.0.5:1/u/a http://lemmy-alpha:8541/u/b http://127.0.0.2:2"
        );
        assert_eq!(
            Hosts::unchanged().map("\"https://enterprise.lemmy.ml/c/main\", https://lemmy.ml/x"),
            "\"http://enterprise.lemmy.ml/c/main\", https://lemmy.ml/x"
        );
        let a = h.activity("community/lock_note.json");
        assert_eq!(a["actor"], "http://127.0.0.5:1/u/lemmy_aplha");
    }
}
