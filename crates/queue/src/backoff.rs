//! What a delivery answer means, and how long to wait before trying an instance again.
//!
//! - 2xx: delivered.
//! - Network errors, timeouts, 408, 429, 5xx (and any other non-4xx status): transient; the
//!   instance backs off and the activity is retried.
//! - Any other 4xx: permanent for that activity (the peer refuses it, as Lemmy and Mastodon
//!   treat it): recorded in `delivery_failure` with rc `DeliveryRefused`, then skipped.
//! - An inbox the SSRF guard refuses: permanent (`InboxRefused`).
//!
//! The schedule is Lemmy's (0.19.4+): after the n-th consecutive failure step the instance
//! waits `0` (n = 1: one immediate retry), then `min(1 day, 1.25^(n-1) s)`: 1.25 s, 1.6 s,
//! 2 s, ... 7.5 s at n = 10, 69 s at n = 20, 11 min at n = 30, 1.7 h at n = 40, 16 h at
//! n = 50, and 1 day from n = 52 on. A `Retry-After` longer than that wins, up to an hour:
//! a peer's one answer cannot park its deliveries for days (nor, with 0, make us retry at
//! once more often than the schedule says); a peer that keeps asking keeps failing, and the
//! schedule grows on its own.

use sluice_apub::Rc;
use sluice_net::{Delivered, NetError};
use std::time::Duration;

/// Longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);
/// Longest `Retry-After` honoured from one answer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wait after the `fail_count`-th consecutive failure step.
pub fn retry_delay(fail_count: u32) -> Duration {
    if fail_count <= 1 {
        return Duration::ZERO;
    }
    let secs = 1.25f64.powi(fail_count.saturating_sub(1).min(200) as i32);
    Duration::from_secs_f64(secs.min(MAX_DELAY.as_secs_f64()))
}

/// The wait after a failure step, honouring the peer's `Retry-After` (up to an hour).
pub fn wait_after(fail_count: u32, retry_after: Option<Duration>) -> Duration {
    retry_delay(fail_count)
        .max(honoured(retry_after))
        .min(MAX_DELAY)
}

/// The part of a peer's `Retry-After` we honour.
pub fn honoured(retry_after: Option<Duration>) -> Duration {
    retry_after.unwrap_or_default().min(MAX_RETRY_AFTER)
}

/// What one delivery attempt to one inbox came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Try again later.
    Retry {
        /// Metric label (`network`, `timeout`, `5xx`, `429`, `408`, `status`).
        reason: &'static str,
        /// The peer's `Retry-After`.
        retry_after: Option<Duration>,
        /// For humans (`last_error`).
        error: String,
    },
    /// Give up this activity for this inbox.
    Drop {
        /// Metric label (`4xx`, `refused`, `no_key`).
        reason: &'static str,
        /// Stable code for `delivery_failure.error_code`.
        rc: Rc,
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// For humans.
        error: String,
    },
}

/// Classifies one attempt.
pub fn classify(r: &Result<Delivered, NetError>) -> Outcome {
    match r {
        Ok(d) if (200..300).contains(&d.status) => Outcome::Delivered,
        Ok(d) if (400..500).contains(&d.status) && !NetError::transient_status(d.status) => {
            Outcome::Drop {
                reason: "4xx",
                rc: Rc::DeliveryRefused,
                status: Some(d.status),
                error: format!("HTTP {}", d.status),
            }
        }
        Ok(d) => Outcome::Retry {
            reason: match d.status {
                408 => "408",
                429 => "429",
                s if s >= 500 => "5xx",
                _ => "status",
            },
            retry_after: d.retry_after,
            error: format!("HTTP {}", d.status),
        },
        Err(e @ NetError::Refused(_)) => Outcome::Drop {
            reason: "refused",
            rc: Rc::InboxRefused,
            status: None,
            error: e.to_string(),
        },
        Err(e) => Outcome::Retry {
            reason: match e {
                NetError::Timeout => "timeout",
                _ => "network",
            },
            retry_after: None,
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lemmy_schedule() {
        assert_eq!(retry_delay(1), Duration::ZERO, "first retry is immediate");
        assert_eq!(retry_delay(2), Duration::from_secs_f64(1.25));
        assert!((retry_delay(10).as_secs_f64() - 7.45).abs() < 0.01);
        assert!((retry_delay(20).as_secs_f64() - 69.4).abs() < 0.1);
        assert_eq!(retry_delay(52), MAX_DELAY);
        assert_eq!(retry_delay(10_000), MAX_DELAY);
        assert_eq!(
            wait_after(1, Some(Duration::from_secs(30))),
            Duration::from_secs(30),
            "Retry-After wins over a shorter backoff"
        );
        assert_eq!(
            wait_after(3, Some(Duration::from_secs(1_000_000))),
            MAX_RETRY_AFTER,
            "a hostile Retry-After parks the instance for an hour, not days"
        );
        assert_eq!(
            wait_after(60, Some(Duration::from_secs(1_000_000))),
            MAX_DELAY,
            "the schedule's own day still applies"
        );
        assert_eq!(
            wait_after(3, Some(Duration::ZERO)),
            retry_delay(3),
            "Retry-After: 0 does not shorten the schedule"
        );
    }

    fn answer(status: u16) -> Result<Delivered, NetError> {
        Ok(Delivered {
            status,
            retry_after: None,
            elapsed: Duration::ZERO,
        })
    }

    #[test]
    fn statuses() {
        assert_eq!(classify(&answer(202)), Outcome::Delivered);
        for s in [408, 429, 500, 503, 302] {
            assert!(matches!(classify(&answer(s)), Outcome::Retry { .. }), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413] {
            assert!(
                matches!(
                    classify(&answer(s)),
                    Outcome::Drop {
                        rc: Rc::DeliveryRefused,
                        ..
                    }
                ),
                "{s}"
            );
        }
        assert!(matches!(
            classify(&Err(NetError::Timeout)),
            Outcome::Retry {
                reason: "timeout",
                ..
            }
        ));
        assert!(matches!(
            classify(&Err(NetError::Refused("x".into()))),
            Outcome::Drop {
                rc: Rc::InboxRefused,
                ..
            }
        ));
    }
}
