//! What the send queue checks before sending, in memory: the instance policy (the same
//! decision the inbox and the pipeline make, `sluice_trust::instances`, over the same rows)
//! and that every inbox is on the instance it is delivered for.
//!
//! Every outbound fetch, and the horizon's poll, returns the current `policy_generation`;
//! the table (`sluice_db::policy_cache::PolicyCache`, as the inbox and the pipeline hold
//! it) is reloaded only when that moved (one extra query per policy change, not per fetch
//! or poll). Workers decide again before every launch, so a block also recalls what
//! is already in a worker's window and not yet on the wire.

use sluice_trust::host::InstanceHost;
use sluice_trust::instances::{Decision, Policies, inbox_belongs_to};

/// The decision for the instance `domain` (as stored in `instance.domain`).
pub fn decide(table: &Policies, domain: &str) -> Decision {
    table.decide_str(domain)
}

/// Splits `inboxes` into those on the instance `domain` and those elsewhere. A row can name
/// a foreign inbox when it was stored before the pipeline refused them, or came from a
/// follower's shared inbox on another host: sending there would aim our signed stream at
/// a third party.
pub fn own_inboxes(domain: &str, inboxes: Vec<String>) -> (Vec<String>, Vec<String>) {
    match InstanceHost::parse(domain) {
        Ok(h) => inboxes.into_iter().partition(|i| inbox_belongs_to(&h, i)),
        Err(_) => (Vec::new(), inboxes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inboxes_elsewhere_are_split_off() {
        let (own, foreign) = own_inboxes(
            "Peer.Example.",
            vec![
                "https://peer.example/inbox".into(),
                "https://victim.example/inbox".into(),
                "https://peer.example/u/a/inbox".into(),
                "https://x.peer.example/inbox".into(),
            ],
        );
        assert_eq!(
            own,
            [
                "https://peer.example/inbox",
                "https://peer.example/u/a/inbox"
            ]
        );
        assert_eq!(
            foreign,
            [
                "https://victim.example/inbox",
                "https://x.peer.example/inbox"
            ]
        );
        let (own, foreign) = own_inboxes("not a host", vec!["https://a.example/i".into()]);
        assert!(own.is_empty() && foreign.len() == 1);
    }
}
