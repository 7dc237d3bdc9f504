//! The built-in policies, each built from its `[[policy]]` entry's options.

mod age;
mod hellthread;
mod instance;
mod text;

pub use age::{NewAccount, ObjectAge};
pub use hellthread::Hellthread;
pub use instance::Instances;
pub use text::{Hashtags, Keywords};

use crate::Policy;
use sluice_trust::host::InstanceHost;
use std::collections::HashSet;

/// Entries of one list of domains, actors or hashtags.
pub const MAX_LIST: usize = 100_000;

/// An entry's options: its table without `kind`, `name` and `communities`.
pub struct Options(pub toml::Table);

impl Options {
    /// The options as `T`; unknown keys are errors (a typo must not pass for a rule).
    pub fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        T::deserialize(toml::Value::Table(self.0)).map_err(|e| e.message().to_string())
    }
}

/// Builds the built-in policy of `kind`, or `None` when no built-in has that name.
pub fn build(kind: &str, options: Options) -> Option<Result<Box<dyn Policy>, String>> {
    fn boxed<P: Policy + 'static>(r: Result<P, String>) -> Result<Box<dyn Policy>, String> {
        r.map(|p| Box::new(p) as Box<dyn Policy>)
    }
    Some(match kind {
        "instance" => boxed(Instances::build(options)),
        "keyword" => boxed(Keywords::build(options)),
        "hashtag" => boxed(Hashtags::build(options)),
        "object_age" => boxed(ObjectAge::build(options)),
        "hellthread" => boxed(Hellthread::build(options)),
        "new_account" => boxed(NewAccount::build(options)),
        _ => return None,
    })
}

/// The names of the built-in kinds.
pub const KINDS: &[&str] = &[
    "instance",
    "keyword",
    "hashtag",
    "object_age",
    "hellthread",
    "new_account",
];

/// A list of domains in normal form (a URL or `host:port` is accepted, as for `sluice
/// instance`).
fn hosts(what: &str, list: &[String]) -> Result<HashSet<String>, String> {
    if list.len() > MAX_LIST {
        return Err(format!("{what}: at most {MAX_LIST} entries"));
    }
    list.iter()
        .map(|d| {
            InstanceHost::parse(d)
                .map(|h| h.as_str().to_string())
                .map_err(|e| format!("{what}: {e}"))
        })
        .collect()
}

/// What a rule does with what it matches, where it may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMatch {
    /// Refuse it.
    Reject,
    /// Store it, do not relay it.
    NoRelay,
    /// Keep it for an admin's review.
    Hold,
}

impl OnMatch {
    fn verdict(self, rc: sluice_apub::Rc, reason: String) -> crate::Verdict {
        match self {
            OnMatch::Reject => crate::Verdict::Reject { rc, reason },
            OnMatch::NoRelay => crate::Verdict::NoRelay { reason },
            OnMatch::Hold => crate::Verdict::Hold { reason },
        }
    }
}
