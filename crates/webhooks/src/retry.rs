//! Every retry decision of the sender, in one place: what an attempt's result means and
//! how long to wait before the next one.
//!
//! A 2xx answer delivers. Anything else (another status, a timeout, a network error) is
//! retried 3 times after the first attempt, waiting `base`, 4 × `base`, 16 × `base` (a
//! longer `Retry-After` wins, up to an hour), then the delivery is `failed`. Receivers are
//! the admin's own tools: unlike federation peers, a 4xx from them is more often a deploy
//! in progress than a final answer, so it is retried too. A URL the address guard refuses
//! fails at once: retrying cannot change where it points.

use sluice_net::{Delivered, NetError};
use std::time::Duration;

/// Attempts per delivery: the first and 3 retries.
pub const ATTEMPTS: i32 = 4;

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It succeeded.
    Delivered,
    /// Try again after this wait.
    RetryIn(Duration),
    /// Give up: the delivery is `failed`.
    Failed,
}

/// The decision after attempt number `attempt` (1 for the first) ended with `result`.
pub fn decide(result: &Result<Delivered, NetError>, attempt: i32, base: Duration) -> Decision {
    let asked = match result {
        Ok(d) if (200..300).contains(&d.status) => return Decision::Delivered,
        Err(NetError::Refused(_)) => return Decision::Failed,
        Ok(d) => d.retry_after,
        Err(_) => None,
    };
    if attempt >= ATTEMPTS {
        return Decision::Failed;
    }
    let exp = u32::try_from(attempt.max(1) - 1).unwrap_or(0);
    let wait = base.saturating_mul(4u32.saturating_pow(exp));
    Decision::RetryIn(wait.max(asked.unwrap_or_default().min(MAX_RETRY_AFTER)))
}

/// Why an attempt did not succeed, for `last_error`.
pub fn error_of(result: &Result<Delivered, NetError>) -> Option<String> {
    match result {
        Ok(d) if (200..300).contains(&d.status) => None,
        Ok(d) => Some(format!("HTTP {}", d.status)),
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, retry_after: Option<u64>) -> Result<Delivered, NetError> {
        Ok(Delivered {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            elapsed: Duration::ZERO,
        })
    }

    const BASE: Duration = Duration::from_secs(10);

    #[test]
    fn three_retries_with_growing_waits_then_failed() {
        let r = answered(500, None);
        assert_eq!(decide(&r, 1, BASE), Decision::RetryIn(BASE));
        assert_eq!(decide(&r, 2, BASE), Decision::RetryIn(BASE * 4));
        assert_eq!(decide(&r, 3, BASE), Decision::RetryIn(BASE * 16));
        assert_eq!(decide(&r, 4, BASE), Decision::Failed);
        assert_eq!(decide(&Err(NetError::Timeout), 4, BASE), Decision::Failed);
    }

    #[test]
    fn success_at_any_attempt_and_a_refused_address_at_once() {
        assert_eq!(decide(&answered(204, None), 4, BASE), Decision::Delivered);
        let refused = Err(NetError::Refused("10.0.0.1".into()));
        assert_eq!(decide(&refused, 1, BASE), Decision::Failed);
        assert_eq!(error_of(&answered(200, None)), None);
        assert_eq!(error_of(&answered(404, None)).as_deref(), Some("HTTP 404"));
    }

    #[test]
    fn a_longer_retry_after_wins_up_to_an_hour() {
        let r = answered(429, Some(120));
        assert_eq!(
            decide(&r, 1, BASE),
            Decision::RetryIn(Duration::from_secs(120))
        );
        let r = answered(503, Some(86_400));
        assert_eq!(decide(&r, 1, BASE), Decision::RetryIn(MAX_RETRY_AFTER));
        let r = answered(503, Some(1));
        assert_eq!(decide(&r, 2, BASE), Decision::RetryIn(BASE * 4));
    }
}
