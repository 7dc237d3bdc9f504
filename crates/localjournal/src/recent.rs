//! The ids appended lately, for the `"duplicate"` answer without a database round-trip.
//!
//! Bounded: the oldest id is forgotten when a new one would exceed the capacity. Forgetting
//! costs only the answer's word ("accepted" for a re-sent id): the drain's conflict clause
//! keeps one row per id whatever the request path said.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// A bounded set of ids, oldest forgotten first.
pub struct RecentIds {
    cap: usize,
    inner: Mutex<Inner>,
}

/// One allocation per id, shared by the set and the order (100,000 ids of ~70 bytes held
/// twice took ~25 MB).
#[derive(Default)]
struct Inner {
    set: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
}

impl RecentIds {
    /// Remembers at most `cap` ids (0: none).
    pub fn new(cap: usize) -> RecentIds {
        RecentIds {
            cap,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whether `id` was inserted and not yet forgotten.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().set.contains(id)
    }

    /// Remembers `id`, forgetting the oldest beyond the capacity.
    pub fn insert(&self, id: String) {
        if self.cap == 0 {
            return;
        }
        let id: Arc<str> = id.into();
        let mut g = self.lock();
        if !g.set.insert(id.clone()) {
            return;
        }
        g.order.push_back(id);
        while g.order.len() > self.cap {
            if let Some(old) = g.order.pop_front() {
                g.set.remove(&old);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The set holds no invariant a panic elsewhere could break.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_its_capacity() {
        let r = RecentIds::new(2);
        r.insert("a".into());
        r.insert("b".into());
        r.insert("a".into());
        assert!(r.contains("a") && r.contains("b"));
        r.insert("c".into());
        assert!(!r.contains("a"));
        assert!(r.contains("b") && r.contains("c"));
    }
}
