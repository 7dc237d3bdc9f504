//! Peer host labels with a bounded cardinality.
//!
//! A label per peer host is what makes "which peer is slow" one query, but an open
//! federation sees thousands of hosts. The first `cap` hosts seen keep their own label;
//! every later host is reported as `other`. (Hosts seen first are, in practice, the busy
//! ones: the instances that federate most reach us first after a start.)

use std::collections::HashSet;
use std::sync::RwLock;

/// Maps a peer host to a bounded label value.
pub struct HostLabels {
    cap: usize,
    admitted: RwLock<HashSet<String>>,
}

impl HostLabels {
    /// A labeler that admits at most `cap` distinct hosts.
    pub fn new(cap: usize) -> Self {
        HostLabels {
            cap,
            admitted: RwLock::new(HashSet::new()),
        }
    }

    /// The label value for `host`: the host itself while there is room, else `other`.
    pub fn label(&self, host: &str) -> String {
        if let Ok(set) = self.admitted.read() {
            if set.contains(host) {
                return host.to_string();
            }
            if set.len() >= self.cap {
                return "other".to_string();
            }
        }
        match self.admitted.write() {
            Ok(mut set) if set.len() < self.cap || set.contains(host) => {
                set.insert(host.to_string());
                host.to_string()
            }
            _ => "other".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_beyond_the_cap_become_other() {
        let l = HostLabels::new(2);
        assert_eq!(l.label("a.example"), "a.example");
        assert_eq!(l.label("b.example"), "b.example");
        assert_eq!(l.label("c.example"), "other");
        assert_eq!(l.label("a.example"), "a.example");
    }
}
