//! Sliding-window counters for `count(key, window_secs)`, in memory and bounded.
//!
//! Each (key, window) pair keeps [`SLOTS`] sub-window buckets, so a count is exact to one
//! sixtieth of its window and costs a fixed 240 bytes whatever the rate. Keys are cut at
//! [`MAX_KEY_BYTES`], windows clamped to [`MAX_WINDOW`], and at most `max_keys` pairs are
//! kept: when full, pairs whose window has passed go first, then the least recently counted
//! eighth. Counts are per process and start again at a restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets per window.
pub const SLOTS: usize = 60;
/// Longest key kept; longer keys are cut (at a character boundary).
pub const MAX_KEY_BYTES: usize = 256;
/// Longest window; longer ones count as this.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Pairs kept by [`Counters::default`] (about 4 MB).
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// The counters. Thread-safe; one lock held for a few hundred nanoseconds per call.
#[derive(Debug)]
pub struct Counters {
    epoch: Instant,
    max_keys: usize,
    pairs: Mutex<HashMap<(String, u64), Window>>,
}

#[derive(Debug)]
struct Window {
    buckets: [u32; SLOTS],
    /// Absolute index of the newest bucket written (time / bucket width).
    newest: u64,
    /// When this pair was last counted, in ms since the epoch.
    last_ms: u64,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters::new(DEFAULT_MAX_KEYS)
    }
}

impl Counters {
    /// Counters keeping at most `max_keys` (key, window) pairs.
    pub fn new(max_keys: usize) -> Counters {
        Counters {
            epoch: Instant::now(),
            max_keys: max_keys.max(1),
            pairs: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one call with `key` now; answers the calls with `key` in the last `window`.
    pub fn count(&self, key: &str, window: Duration) -> u64 {
        self.count_at(key, window, self.epoch.elapsed())
    }

    /// [`Counters::count`] at `at` after this set's creation (tests move time by hand).
    pub fn count_at(&self, key: &str, window: Duration, at: Duration) -> u64 {
        let window_ms = window.clamp(Duration::from_secs(1), MAX_WINDOW).as_millis() as u64;
        let width = (window_ms / SLOTS as u64).max(1);
        let now_ms = at.as_millis() as u64;
        let slot = now_ms / width;
        let key = cut(key);
        // A poisoned lock only means another thread panicked mid-count: the counts are
        // still counts.
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let pair = (key.to_owned(), window_ms);
        if !pairs.contains_key(&pair) && pairs.len() >= self.max_keys {
            make_room(&mut pairs, self.max_keys, now_ms);
        }
        let w = pairs.entry(pair).or_insert(Window {
            buckets: [0; SLOTS],
            newest: slot,
            last_ms: now_ms,
        });
        w.advance(slot);
        let i = (slot % SLOTS as u64) as usize;
        w.buckets[i] = w.buckets[i].saturating_add(1);
        w.last_ms = now_ms;
        w.buckets.iter().map(|&b| u64::from(b)).sum()
    }

    /// Pairs kept now.
    pub fn len(&self) -> usize {
        self.pairs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no pair is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Window {
    /// Clears the buckets between the newest written and `slot`: their time has passed.
    fn advance(&mut self, slot: u64) {
        if slot <= self.newest {
            return;
        }
        let gap = slot - self.newest;
        if gap >= SLOTS as u64 {
            self.buckets = [0; SLOTS];
        } else {
            for s in self.newest + 1..=slot {
                self.buckets[(s % SLOTS as u64) as usize] = 0;
            }
        }
        self.newest = slot;
    }
}

fn cut(key: &str) -> &str {
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    let mut end = MAX_KEY_BYTES;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

fn make_room(pairs: &mut HashMap<(String, u64), Window>, max_keys: usize, now_ms: u64) {
    pairs.retain(|(_, window_ms), w| now_ms.saturating_sub(w.last_ms) < *window_ms);
    if pairs.len() < max_keys {
        return;
    }
    let mut ages: Vec<u64> = pairs.values().map(|w| w.last_ms).collect();
    let eighth = (ages.len() / 8).max(1);
    let (_, cutoff, _) = ages.select_nth_unstable(eighth - 1);
    let cutoff = *cutoff;
    let mut dropped = 0;
    pairs.retain(|_, w| {
        let drop = w.last_ms <= cutoff && dropped < eighth;
        dropped += usize::from(drop);
        !drop
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn calls_count_within_their_window_and_expire_after_it() {
        let c = Counters::new(10);
        assert_eq!(c.count_at("a", MIN, at(0)), 1);
        assert_eq!(c.count_at("a", MIN, at(10)), 2);
        assert_eq!(c.count_at("b", MIN, at(10)), 1, "keys are separate");
        assert_eq!(c.count_at("a", MIN, at(59)), 3);
        // The call at 0 s has left the window, the one at 10 s not yet.
        assert_eq!(c.count_at("a", MIN, at(65)), 3);
        assert_eq!(c.count_at("a", MIN, at(200)), 1, "all old calls expired");
    }

    #[test]
    fn the_same_key_under_another_window_is_another_counter() {
        let c = Counters::new(10);
        c.count_at("a", MIN, at(0));
        assert_eq!(c.count_at("a", 2 * MIN, at(1)), 1);
    }

    #[test]
    fn keys_and_memory_stay_bounded() {
        let c = Counters::new(100);
        for i in 0..10_000u64 {
            c.count_at(&format!("actor-{i}"), MIN, at(i / 1000));
        }
        assert!(c.len() <= 100, "{} pairs kept", c.len());
        // The most recent key is still counted.
        assert_eq!(c.count_at("actor-9999", MIN, at(9)), 2);
        let long = "x".repeat(10_000);
        c.count_at(&long, MIN, at(9));
        assert_eq!(
            c.count_at(&long[..MAX_KEY_BYTES], MIN, at(9)),
            2,
            "long keys are cut"
        );
    }
}
