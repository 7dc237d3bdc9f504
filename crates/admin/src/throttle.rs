//! Wrong logins, bounded: a token bucket per process. Each failed login takes a token; the
//! bucket refills at `per_minute` tokens a minute up to `per_minute`. While it is empty
//! every login is answered 429 `RateLimited` with `Retry-After`, the right token too, so
//! a guesser learns nothing from the attempts it makes meanwhile. One bucket for all
//! clients: an address is cheap to change, and an admin locked out by someone else's
//! guessing waits a minute at most.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per minute (and in a burst).
pub(crate) const FAILURES_PER_MINUTE: f64 = 10.0;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The failed-login bucket.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    bucket: Mutex<Bucket>,
    per_minute: f64,
}

impl LoginThrottle {
    /// A full bucket of `per_minute` failures.
    pub(crate) fn new(per_minute: f64, now: Instant) -> LoginThrottle {
        LoginThrottle {
            bucket: Mutex::new(Bucket {
                tokens: per_minute,
                at: now,
            }),
            per_minute,
        }
    }

    fn refilled(&self, now: Instant) -> std::sync::MutexGuard<'_, Bucket> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_minute / 60.0).min(self.per_minute);
        b.at = now;
        b
    }

    /// `Err(wait)` while the bucket is empty: how long until the next attempt may be made.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Duration> {
        let b = self.refilled(now);
        if b.tokens >= 1.0 {
            return Ok(());
        }
        let missing = 1.0 - b.tokens;
        Err(Duration::from_secs_f64(missing * 60.0 / self.per_minute))
    }

    /// Takes a token for a failed login.
    pub(crate) fn failed(&self, now: Instant) {
        let mut b = self.refilled(now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::LoginThrottle;
    use std::time::{Duration, Instant};

    #[test]
    fn ten_failures_a_minute_then_a_wait() {
        let t0 = Instant::now();
        let throttle = LoginThrottle::new(10.0, t0);
        for _ in 0..10 {
            assert!(throttle.check(t0).is_ok());
            throttle.failed(t0);
        }
        let wait = throttle.check(t0).expect_err("the eleventh attempt waits");
        assert_eq!(wait, Duration::from_secs(6), "one token refills in 6 s");
        assert!(throttle.check(t0 + Duration::from_secs(5)).is_err());
        assert!(throttle.check(t0 + Duration::from_secs(6)).is_ok());
        // A long pause refills the bucket to its size, not beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..10 {
            assert!(throttle.check(later).is_ok());
            throttle.failed(later);
        }
        assert!(throttle.check(later).is_err());
    }
}
