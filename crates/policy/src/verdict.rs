//! What a policy says about an activity, and what the chain records of it.

use serde_json::Value;
use sluice_apub::Rc;

/// One policy's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing to say: the next policy decides.
    Accept,
    /// Not stored (the journal row ends `ignored` with `rc`); the chain stops.
    Reject {
        /// Why, as a stable code.
        rc: Rc,
        /// Why, for the admin.
        reason: String,
    },
    /// Stored as `activity` instead (and relayed as it); the next policies see it.
    Rewrite {
        /// The activity as it is to be applied.
        activity: Value,
        /// What was changed.
        reason: String,
    },
    /// Stored, but a local community does not relay it to its followers.
    NoRelay {
        /// Why.
        reason: String,
    },
    /// Waits for an admin (`sluice review`); the chain stops.
    Hold {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// A rejection.
    pub fn reject(rc: Rc, reason: impl Into<String>) -> Verdict {
        Verdict::Reject {
            rc,
            reason: reason.into(),
        }
    }

    /// The action's name, as `policy_decision.action` and the metrics' `action` label.
    pub fn action(&self) -> Action {
        match self {
            Verdict::Accept => Action::Accept,
            Verdict::Reject { .. } => Action::Reject,
            Verdict::Rewrite { .. } => Action::Rewrite,
            Verdict::NoRelay { .. } => Action::NoRelay,
            Verdict::Hold { .. } => Action::Hold,
        }
    }
}

/// The kinds of verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// [`Verdict::Accept`].
    Accept,
    /// [`Verdict::Reject`].
    Reject,
    /// [`Verdict::Rewrite`].
    Rewrite,
    /// [`Verdict::NoRelay`].
    NoRelay,
    /// [`Verdict::Hold`].
    Hold,
}

impl Action {
    /// As stored and labelled.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::Rewrite => "rewrite",
            Action::NoRelay => "no_relay",
            Action::Hold => "hold",
        }
    }
}

/// A verdict other than accept, as recorded in `policy_decision`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The policy's name in the chain.
    pub policy: String,
    /// What it did.
    pub action: Action,
    /// The code of a rejection or hold.
    pub rc: Option<Rc>,
    /// Why.
    pub reason: String,
}
