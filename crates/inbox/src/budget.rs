//! Token buckets, in memory: how many key fetches per minute (globally and per host) and
//! how many activities per second one instance may cost us. No database, no I/O: a request
//! that is over budget is answered at once, with the time until a token is free.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One bucket: up to `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The shape of every bucket of a [`Buckets`].
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens a bucket holds (what an idle key may spend at once).
    pub burst: f64,
}

impl Rate {
    /// `n` per minute, all of which may be spent at once.
    pub fn per_minute(n: u64) -> Rate {
        Rate {
            per_second: n as f64 / 60.0,
            burst: n as f64,
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.burst);
        b.at = now;
    }

    /// Takes a token, or says how long until one is free.
    fn take(&self, b: &mut Bucket, now: Instant) -> Result<(), Duration> {
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - b.tokens;
        Err(Duration::from_secs_f64(missing / self.per_second.max(1e-9))
            .min(Duration::from_secs(3600)))
    }

    fn full(&self) -> Bucket {
        Bucket {
            tokens: self.burst,
            at: Instant::now(),
        }
    }
}

/// One bucket per key (a host), created full on first use. At most `capacity` buckets are
/// kept: when the map is full, buckets that have refilled completely are dropped (they are
/// the same as absent ones); if none has, a new key is let through without a bucket rather
/// than refused, so filling the map cannot refuse honest senders (other budgets still bound
/// the cost).
#[derive(Debug)]
pub struct Buckets {
    rate: Rate,
    capacity: usize,
    map: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    /// Buckets of `rate`, at most `capacity` of them.
    pub fn new(rate: Rate, capacity: usize) -> Buckets {
        Buckets {
            rate,
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `key`'s bucket, or says how long until one is free.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get_mut(key) {
            return self.rate.take(b, now);
        }
        if map.len() >= self.capacity {
            let rate = self.rate;
            map.retain(|_, b| {
                rate.refill(b, now);
                b.tokens < rate.burst
            });
            if map.len() >= self.capacity {
                return Ok(());
            }
        }
        let mut b = self.rate.full();
        let r = self.rate.take(&mut b, now);
        map.insert(key.to_string(), b);
        r
    }

    /// Gives back a token taken from `key` (a later check refused the request).
    pub fn give_back(&self, key: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = map.get_mut(key) {
            b.tokens = (b.tokens + 1.0).min(self.rate.burst);
        }
    }
}

/// One bucket for everything.
#[derive(Debug)]
pub struct Global {
    rate: Rate,
    bucket: Mutex<Bucket>,
}

impl Global {
    /// A full bucket of `rate`.
    pub fn new(rate: Rate) -> Global {
        Global {
            bucket: Mutex::new(rate.full()),
            rate,
        }
    }

    /// Takes a token, or says how long until one is free.
    pub fn take(&self) -> Result<(), Duration> {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        self.rate.take(&mut b, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_spends_its_burst_then_says_when_to_come_back() {
        let b = Buckets::new(Rate::per_minute(3), 10);
        for _ in 0..3 {
            assert!(b.take("a.example").is_ok());
        }
        let wait = b.take("a.example").unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(b.take("b.example").is_ok());
        // A token given back can be spent again.
        b.give_back("a.example");
        assert!(b.take("a.example").is_ok());
    }

    #[test]
    fn a_full_map_drops_idle_buckets_and_never_refuses_a_new_key() {
        let b = Buckets::new(
            Rate {
                per_second: 1000.0,
                burst: 1.0,
            },
            2,
        );
        assert!(b.take("x").is_ok());
        assert!(b.take("y").is_ok());
        std::thread::sleep(Duration::from_millis(5));
        // Both refilled: dropped to make room.
        assert!(b.take("z").is_ok());
        assert!(b.map.lock().unwrap().len() <= 2);

        let slow = Buckets::new(Rate::per_minute(1), 1);
        assert!(slow.take("x").is_ok());
        assert!(slow.take("y").is_ok(), "no room, no bucket: let through");
        assert!(slow.take("x").is_err());
    }

    #[test]
    fn the_global_bucket_is_shared() {
        let g = Global::new(Rate::per_minute(2));
        assert!(g.take().is_ok());
        assert!(g.take().is_ok());
        assert!(g.take().is_err());
    }
}
