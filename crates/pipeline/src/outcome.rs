//! What applying one activity came to.

use crate::fetch::FetchFailure;
use sluice_apub::Rc;
use url::Url;

/// The result of applying one activity to the view.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Applied. `changed` is false for a re-delivery that changed nothing; `relay` names the
    /// local community that announces it to its followers.
    Done {
        changed: bool,
        relay: Option<String>,
    },
    /// Understood; nothing (more) to store.
    Ignored(Rc, String),
    /// Given up for good.
    Failed(Rc, String),
    /// Worth another attempt later.
    Retry(Rc, String),
    /// Something it refers to is missing: look it up, else fetch it, then apply again.
    Need(Vec<Url>),
    /// A policy of the chain holds it for an admin's review.
    Held(String),
}

impl Outcome {
    pub(crate) fn done(relay: Option<String>) -> Outcome {
        Outcome::Done {
            changed: true,
            relay,
        }
    }

    pub(crate) fn unchanged() -> Outcome {
        Outcome::Done {
            changed: false,
            relay: None,
        }
    }

    pub(crate) fn ignored(rc: Rc, msg: impl Into<String>) -> Outcome {
        Outcome::Ignored(rc, msg.into())
    }

    pub(crate) fn failed(rc: Rc, msg: impl Into<String>) -> Outcome {
        Outcome::Failed(rc, msg.into())
    }
}

/// Why a reference could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Miss {
    /// Not looked up or fetched yet.
    Fetch(Url),
    /// Known not to exist here, and not fetched (local ids, or refs we do not chase).
    Unknown(Url),
    /// Deleted (a tombstone, 410, or a remembered Delete).
    Gone(Url),
    /// The fetch failed.
    Failed(Url, FetchFailure),
    /// On an instance our policy refuses.
    Blocked(Url),
    /// Exists, but is not what was expected (a person where a community was needed).
    WrongType(Url, &'static str),
    /// Content of a community we do not keep.
    NotKept(Url),
    /// No community could be found for content.
    NoCommunity(Url),
}

impl Miss {
    /// The step for an activity that could not be applied for this reason. Fetchable
    /// misses are collected by the caller first (see `Ctx::missing`).
    pub(crate) fn step(&self) -> Outcome {
        match self {
            Miss::Fetch(u) => Outcome::Need(vec![u.clone()]),
            Miss::Unknown(u) => {
                Outcome::ignored(Rc::UnknownObject, format!("{u} is not known here"))
            }
            Miss::Gone(u) => Outcome::ignored(Rc::ObjectDeleted, format!("{u} is deleted")),
            Miss::Failed(u, f) if f.rc == Rc::ObjectDeleted => {
                Outcome::ignored(Rc::ObjectDeleted, format!("{u}: {}", f.message))
            }
            Miss::Failed(_, f) if f.transient => Outcome::Retry(f.rc, f.message.clone()),
            Miss::Failed(_, f) => Outcome::Failed(f.rc, f.message.clone()),
            Miss::Blocked(u) => Outcome::ignored(
                Rc::PolicyBlocked,
                format!("{u} is on an instance our policy refuses"),
            ),
            Miss::WrongType(u, want) => {
                Outcome::ignored(Rc::UnsupportedObject, format!("{u} is not a {want}"))
            }
            Miss::NotKept(u) => Outcome::ignored(
                Rc::NoLocalFollower,
                format!("{u}: no local user follows its community"),
            ),
            Miss::NoCommunity(u) => {
                Outcome::ignored(Rc::NotForUs, format!("{u} is in no community known here"))
            }
        }
    }
}
