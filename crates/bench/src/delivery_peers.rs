//! The receiving peers of the delivery scenarios, and what is read off them.
//!
//! Each peer is a real [`TestPeer`] (an HTTP server verifying every signature with
//! activitypub_federation) given a shape: how many requests it works on at once, and whether
//! it throttles for a while. Its record of arrivals then tells, without trusting sluice's own
//! numbers, how long sluice waited after a 429 and how many requests it had on the wire.

use serde::Serialize;
use sluice_testkit::TestPeer;
use sluice_testkit::peer::{Received, Reply};
use std::time::Duration;

/// How the receiving peer behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PeerShape {
    /// Works on up to this many requests at once, each taking the peer's delay; more wait
    /// for a free worker (at twice this many, the answer time doubles).
    Capacity(usize),
    /// Takes any number at once, but after `after` requests answers the next `refusals`
    /// with 429 and `Retry-After: retry_after_s`, then accepts again.
    Throttling {
        /// Requests accepted first.
        after: usize,
        /// Requests then answered 429.
        refusals: usize,
        /// Their `Retry-After`, seconds.
        retry_after_s: u64,
    },
}

impl Default for PeerShape {
    /// A peer that takes 64 at once.
    fn default() -> Self {
        PeerShape::Capacity(64)
    }
}

impl PeerShape {
    /// Gives `peer` this shape.
    pub fn apply(&self, peer: &TestPeer) {
        match *self {
            PeerShape::Capacity(n) => peer.inbox_capacity(Some(n)),
            PeerShape::Throttling {
                after,
                refusals,
                retry_after_s,
            } => {
                peer.inbox_reply_next(after, Reply::Lemmy);
                peer.inbox_reply_next(
                    refusals,
                    Reply::TooManyRequests {
                        retry_after: retry_after_s.to_string(),
                    },
                );
            }
        }
    }

    /// The `Retry-After` it sends, if it throttles.
    pub fn retry_after(&self) -> Option<Duration> {
        match *self {
            PeerShape::Throttling { retry_after_s, .. } => Some(Duration::from_secs(retry_after_s)),
            PeerShape::Capacity(_) => None,
        }
    }
}

/// What the peer's arrivals say about sluice after a 429.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AfterThrottle {
    /// Shortest time between a 429 answer leaving the peer (at the earliest) and the same
    /// activity arriving again, seconds.
    pub shortest_retry_gap_s: f64,
    /// Requests that arrived while the first retry was being answered (0: the window was 1).
    pub beside_first_retry: usize,
}

/// Reads [`AfterThrottle`] off the peer's arrivals; `answer` is the peer's delay (a 429
/// leaves no earlier than arrival + delay). `None` when nothing was answered 429 and
/// retried.
pub fn after_throttle(hits: &[Received], answer: Duration) -> Option<AfterThrottle> {
    let retried: Vec<(&Received, &Received)> = hits
        .iter()
        .filter(|h| h.status == 429)
        .filter_map(|r| {
            let again = hits
                .iter()
                .filter(|h| h.seq > r.seq && h.activity_id == r.activity_id)
                .min_by_key(|h| h.seq)?;
            Some((r, again))
        })
        .collect();
    let shortest = retried
        .iter()
        .map(|(r, again)| again.at.saturating_duration_since(r.at + answer))
        .min()?;
    let first = retried
        .iter()
        .map(|(_, again)| *again)
        .min_by_key(|h| h.seq)?;
    let beside = hits
        .iter()
        .filter(|h| h.seq != first.seq && h.at >= first.at && h.at < first.at + answer)
        .count();
    Some(AfterThrottle {
        shortest_retry_gap_s: shortest.as_secs_f64(),
        beside_first_retry: beside,
    })
}

/// One look at sluice's `/metrics` during a delivery scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Since the first publish.
    pub at: Duration,
    /// `sluice_delivery_window` (the one peer's).
    pub window: f64,
    /// `sluice_delivery_duration_seconds` sum and count so far.
    pub answered_s: f64,
    /// See `answered_s`.
    pub answered: f64,
}

/// The window and answer time over the second half of a run (after the window settled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Settled {
    /// Mean of the window samples.
    pub window_mean: f64,
    /// Their smallest and largest.
    pub window_min: f64,
    /// See `window_min`.
    pub window_max: f64,
    /// Mean answer time of the deliveries answered then, ms.
    pub answer_ms: f64,
}

/// [`Settled`] from samples in time order; `None` with fewer than two samples in the half.
pub fn settled(samples: &[Sample]) -> Option<Settled> {
    let end = samples.last()?.at;
    let half: Vec<&Sample> = samples.iter().filter(|s| s.at >= end / 2).collect();
    let (first, last) = (half.first()?, half.last()?);
    if half.len() < 2 || last.answered <= first.answered {
        return None;
    }
    let windows = half.iter().map(|s| s.window);
    Some(Settled {
        window_mean: windows.clone().sum::<f64>() / half.len() as f64,
        window_min: windows.clone().fold(f64::INFINITY, f64::min),
        window_max: windows.fold(0.0, f64::max),
        answer_ms: 1000.0 * (last.answered_s - first.answered_s) / (last.answered - first.answered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn hit(seq: u64, at: Instant, id: &str, status: u16) -> Received {
        Received {
            seq,
            at,
            method: "POST".into(),
            path: "/inbox".into(),
            headers: Vec::new(),
            body: String::new(),
            json: None,
            activity_id: Some(id.into()),
            activity_type: None,
            actor: None,
            key_id: None,
            signer: None,
            verified: true,
            verify_error: None,
            status,
        }
    }

    #[test]
    fn the_retry_gap_and_what_went_beside_the_first_retry() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let hits = vec![
            hit(0, t, "a", 200),
            hit(1, t + ms(10), "b", 429),
            hit(2, t + ms(20), "c", 429),
            hit(3, t + ms(2300), "b", 200),
            hit(4, t + ms(2450), "x", 200),
            hit(5, t + ms(2600), "c", 200),
        ];
        let a = after_throttle(&hits, ms(200)).unwrap();
        assert!((a.shortest_retry_gap_s - 2.09).abs() < 1e-9, "{a:?}");
        assert_eq!(
            a.beside_first_retry, 1,
            "x arrived while b's retry was answered"
        );
        assert!(after_throttle(&hits[..1], ms(200)).is_none());
    }

    #[test]
    fn the_second_half_settles() {
        let s = |at: u64, window: f64, n: f64| Sample {
            at: Duration::from_secs(at),
            window,
            answered_s: 0.25 * n,
            answered: n,
        };
        let got = settled(&[
            s(0, 1.0, 0.0),
            s(5, 8.0, 10.0),
            s(6, 4.0, 20.0),
            s(10, 6.0, 40.0),
        ])
        .unwrap();
        assert_eq!((got.window_min, got.window_max), (4.0, 8.0));
        assert_eq!(got.window_mean, 6.0);
        assert!((got.answer_ms - 250.0).abs() < 1e-9);
        assert!(settled(&[s(0, 1.0, 0.0)]).is_none());
    }
}
