//! The chain's file: `[[policy]]` entries in order, each with a `kind`, an optional
//! `name` (default: the kind, then `kind-2`, ...), optional `communities` (names of local
//! communities it is limited to) and the kind's options. Unknown kinds and options are
//! errors, as in the main configuration: a typo must not pass for a rule.
//!
//! ```toml
//! [[policy]]
//! kind = "instance"
//! reject = ["spam.example"]
//! quarantine = ["noisy.example"]
//!
//! [[policy]]
//! kind = "keyword"
//! communities = ["news"]
//! reject = ["(?i)buy followers"]
//! ```

use crate::Policy;
use crate::builtin::{self, Options};
use crate::chain::{Chain, Link};
use sluice_apub::LocalUrls;

/// Policies in one chain.
pub const MAX_POLICIES: usize = 64;
/// Communities one policy may be limited to.
pub const MAX_COMMUNITIES: usize = 1000;
/// Bytes of the chain's file.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// A chain that cannot be built, and where.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The file is not TOML, or not a list of `[[policy]]` tables.
    #[error("{0}")]
    Syntax(String),
    /// An entry is wrong.
    #[error("policy #{index} ({name}): {message}")]
    Entry {
        /// Its position, from 1.
        index: usize,
        /// Its name or kind.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Builds policies of kinds the built-ins do not know (plugins).
pub trait Extension: Send + Sync {
    /// Top-level tables of the file that are this extension's (its shared settings).
    fn keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// The policy of `kind` named `name` from its options; `None` when `kind` is not this
    /// extension's. `shared` holds the file's top-level entries of [`Extension::keys`].
    fn build(
        &self,
        kind: &str,
        name: &str,
        options: toml::Table,
        shared: &toml::Table,
    ) -> Option<Result<Box<dyn Policy>, String>>;
}

fn take_string(t: &mut toml::Table, key: &str) -> Result<Option<String>, String> {
    match t.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn take_strings(t: &mut toml::Table, key: &str) -> Result<Vec<String>, String> {
    match t.remove(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok(s),
                _ => Err(format!("`{key}` must be a list of strings")),
            })
            .collect(),
        Some(_) => Err(format!("`{key}` must be a list of strings")),
    }
}

/// A valid policy name: what `sluice review` and the metrics' labels show.
fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Chain {
    /// Builds the chain from the text of its file. `urls` turns community names into ids.
    pub fn parse(
        text: &str,
        urls: &LocalUrls,
        extension: Option<&dyn Extension>,
    ) -> Result<Chain, ChainError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(ChainError::Syntax(format!(
                "the file is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        let mut doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ChainError::Syntax(e.to_string()))?;
        let entries = match doc.remove("policy") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a,
            Some(_) => {
                return Err(ChainError::Syntax(
                    "`policy` must be a list of tables ([[policy]])".into(),
                ));
            }
        };
        let claimed = extension.map_or(&[][..], |x| x.keys());
        if let Some(k) = doc.keys().find(|k| !claimed.contains(&k.as_str())) {
            return Err(ChainError::Syntax(format!(
                "unknown key `{k}` (the file holds [[policy]] entries only)"
            )));
        }
        let shared = doc;
        if entries.len() > MAX_POLICIES {
            return Err(ChainError::Syntax(format!(
                "at most {MAX_POLICIES} policies"
            )));
        }
        let mut links: Vec<Link> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let index = i + 1;
            let fail = |name: &str, message: String| ChainError::Entry {
                index,
                name: name.to_string(),
                message,
            };
            let toml::Value::Table(mut t) = entry else {
                return Err(fail("?", "not a table".into()));
            };
            let kind = take_string(&mut t, "kind")
                .map_err(|m| fail("?", m))?
                .ok_or_else(|| fail("?", "no `kind`".into()))?;
            let name = match take_string(&mut t, "name").map_err(|m| fail(&kind, m))? {
                Some(n) => n,
                None => {
                    let same = links.iter().filter(|l| l.policy.kind() == kind).count();
                    if same == 0 {
                        kind.clone()
                    } else {
                        format!("{kind}-{}", same + 1)
                    }
                }
            };
            if !valid_name(&name) {
                return Err(fail(
                    &name,
                    "a name is 1 to 64 letters, digits, `_`, `-` or `.`".into(),
                ));
            }
            if links.iter().any(|l| l.name == name) {
                return Err(fail(&name, "another policy has this name".into()));
            }
            let communities = take_strings(&mut t, "communities").map_err(|m| fail(&name, m))?;
            if communities.len() > MAX_COMMUNITIES {
                return Err(fail(
                    &name,
                    format!("at most {MAX_COMMUNITIES} communities"),
                ));
            }
            let scope = communities.iter().map(|c| urls.community(c)).collect();
            let built = match builtin::build(&kind, Options(t.clone())) {
                Some(r) => r,
                None => match extension.and_then(|x| x.build(&kind, &name, t, &shared)) {
                    Some(r) => r,
                    None => Err(format!(
                        "unknown kind `{kind}` (known: {})",
                        builtin::KINDS.join(", ")
                    )),
                },
            };
            let policy = built.map_err(|m| fail(&name, m))?;
            links.push(Link {
                name,
                scope,
                policy,
            });
        }
        Ok(Chain::new(links))
    }

    /// Reads and builds the chain in `path`.
    pub fn load(
        path: &std::path::Path,
        urls: &LocalUrls,
        extension: Option<&dyn Extension>,
    ) -> Result<Chain, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Chain::parse(&text, urls, extension)
    }
}
