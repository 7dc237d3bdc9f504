//! How many deliveries one instance gets at once: a fixed number, or one learned from the
//! peer's own answers (additive increase, multiplicative decrease against a moving baseline
//! of its answer time, as TCP does with a congestion window and Vector with its adaptive
//! request concurrency). Pure: fed each answer, it says the current limit; no clock, no I/O.
//!
//! The adaptive limit starts at 1 and learns in **rounds**: a round ends when as many 2xx
//! answers as the limit have come back from requests launched since the limit last changed
//! (answers to older requests say nothing about the new limit and are not counted). At the
//! end of a round its mean answer time is compared with the **baseline**, an exponentially
//! weighted mean (and deviation) of past rounds (not the first: it also paid for getting
//! started, the connection and the peer's fetch of our key):
//! - near it (within 2.5 deviations, at least 10 % or 5 ms): the baseline takes the round in,
//!   and if the window was full during the round (the limit, not the backlog, held us back)
//!   the limit grows: doubling while below the slow-start threshold (the first rise ends
//!   slow start), then by 1 per round;
//! - above it: we are queueing at the peer; the limit is cut to 90 % (at least by 1) and the
//!   baseline moves only a little toward the round, so a rise we cause keeps being seen.
//!   When two cuts in a row did not bring the answer time down, the rise is not ours (the
//!   peer got slower by itself): that answer time becomes the baseline, without a cut.
//!
//! The baseline follows rounds below it quickly and rounds above it slowly: it tracks the
//! peer's answer time when we are not queueing there.
//!
//! Explicit signals act at once, at most once per round: 408, 5xx, a timeout or a failed
//! connection halves the limit; 429 drops it to 1 and halves the slow-start threshold (the
//! worker also waits the peer's `Retry-After` before anything is sent again, see
//! `crate::backoff`). After that the limit grows back as above.

use sluice_net::{Delivered, NetError};
use std::time::Duration;

/// How much a round's mean answer time may exceed the baseline, in baseline deviations.
const DEVIATION_SCALE: f64 = 2.5;
/// ... and at least this fraction of the baseline (timer and scheduling jitter is not load).
const MIN_TOLERANCE: f64 = 0.10;
/// ... and at least this much, for peers answering in almost no time.
const MIN_TOLERANCE_SECS: f64 = 0.005;
/// Weight of a round below the baseline: the baseline follows a faster peer at once.
const DOWN_WEIGHT: f64 = 0.3;
/// Weight of a round above it: small, so that the baseline stays the answer time without a
/// queue at the peer and a rise we cause keeps being seen as one (a peer that got slower by
/// itself is recognised by `NOT_OURS` instead).
const UP_WEIGHT: f64 = 0.01;
/// The cut when the answer time rises.
const LATENCY_CUT: f64 = 0.9;
/// The cut on 408, 5xx, timeouts and failed connections.
const TROUBLE_CUT: f64 = 0.5;
/// A rising round whose mean is not below this fraction of the previous rising round's
/// did not improve after our cut.
const NO_BETTER: f64 = 0.97;
/// Rising rounds in a row that our cuts did not improve: the peer got slower by itself.
const NOT_OURS: u8 = 2;
/// Longest answer time taken as it is (a request times out long before).
const MAX_SAMPLE_SECS: f64 = 3600.0;

/// What one answer says about the peer's load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// 2xx, answered in this time.
    Answered(Duration),
    /// 429: the peer asks us to slow down.
    SlowDown,
    /// 408, 5xx, a timeout or a failed connection: the peer is in trouble.
    Trouble,
    /// Nothing about its load (a 4xx refusal, a request we did not send).
    Neutral,
}

impl Signal {
    /// The signal of one delivery request's result (transient-or-not as `sluice_net` decides).
    pub fn of(r: &Result<Delivered, NetError>) -> Signal {
        match r {
            Ok(d) if (200..300).contains(&d.status) => Signal::Answered(d.elapsed),
            Ok(d) if d.status == 429 => Signal::SlowDown,
            Ok(d) if NetError::transient_status(d.status) => Signal::Trouble,
            Err(e) if e.is_transient() => Signal::Trouble,
            _ => Signal::Neutral,
        }
    }
}

/// One instance's concurrency limit.
#[derive(Debug, Clone)]
pub struct Concurrency {
    max: usize,
    limit: usize,
    learner: Option<Learner>,
}

#[derive(Debug, Clone)]
struct Learner {
    slow_start_below: usize,
    baseline: Option<Baseline>,
    /// The mean of the last round above the baseline, while they follow each other.
    last_rise: Option<f64>,
    /// How many of those in a row our cuts did not improve.
    unimproved: u8,
    round: Round,
    next_ticket: u64,
    /// The first round has been seen (and left out of the baseline).
    warm: bool,
}

#[derive(Debug, Clone, Copy)]
struct Baseline {
    mean: f64,
    var: f64,
}

impl Baseline {
    /// Takes a round near the baseline in: its mean and its spread.
    fn take(&mut self, x: f64) {
        let d = x - self.mean;
        let weight = if d < 0.0 { DOWN_WEIGHT } else { UP_WEIGHT };
        self.mean += weight * d;
        self.var = (1.0 - weight) * (self.var + weight * d * d);
    }

    /// Moves toward a round above it, leaving the spread alone: a rise must not widen
    /// what counts as near.
    fn lean(&mut self, x: f64) {
        self.mean += UP_WEIGHT * (x - self.mean);
    }

    fn tolerance(&self) -> f64 {
        (DEVIATION_SCALE * self.var.sqrt())
            .max(MIN_TOLERANCE * self.mean)
            .max(MIN_TOLERANCE_SECS)
    }
}

#[derive(Debug, Clone, Default)]
struct Round {
    /// First launch ticket whose answers count.
    from: u64,
    sum: f64,
    answers: usize,
    /// The window was full at some launch of this round.
    full: bool,
}

impl Concurrency {
    /// Always `size` (at least 1).
    pub fn fixed(size: usize) -> Self {
        let size = size.max(1);
        Concurrency {
            max: size,
            limit: size,
            learner: None,
        }
    }

    /// Learned from the answers, from 1 up to `max` (at least 1).
    pub fn adaptive(max: usize) -> Self {
        let max = max.max(1);
        Concurrency {
            max,
            limit: 1,
            learner: Some(Learner {
                slow_start_below: max,
                baseline: None,
                last_rise: None,
                unimproved: 0,
                round: Round::default(),
                next_ticket: 0,
                warm: false,
            }),
        }
    }

    /// The current limit: 1 ..= [`Concurrency::max`].
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The largest the limit can be: the window's crash bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A request was launched; `occupancy` is the window's occupancy after it. Returns the
    /// ticket to give back with its answer.
    pub fn launched(&mut self, occupancy: usize) -> u64 {
        let limit = self.limit;
        let Some(l) = &mut self.learner else {
            return 0;
        };
        let ticket = l.next_ticket;
        l.next_ticket += 1;
        if occupancy >= limit {
            l.round.full = true;
        }
        ticket
    }

    /// The answer to the request launched with `ticket`.
    pub fn observe(&mut self, ticket: u64, signal: Signal) {
        let (limit, max) = (self.limit, self.max);
        let Some(l) = &mut self.learner else {
            return;
        };
        let current_round = ticket >= l.round.from;
        let next = match signal {
            Signal::Neutral => return,
            Signal::SlowDown => {
                if current_round {
                    l.slow_start_below = (limit / 2).max(1);
                }
                1
            }
            Signal::Trouble if current_round => {
                let cut = cut(limit, TROUBLE_CUT);
                l.slow_start_below = cut;
                cut
            }
            Signal::Trouble => return,
            Signal::Answered(_) if !current_round => return,
            Signal::Answered(rtt) => {
                let secs = rtt.as_secs_f64().min(MAX_SAMPLE_SECS);
                l.round.sum += secs;
                l.round.answers += 1;
                if l.round.answers < limit {
                    return;
                }
                l.end_round(limit, max)
            }
        };
        l.start_round(next != limit);
        self.limit = next;
    }
}

impl Learner {
    /// The limit after a complete round at `limit`.
    fn end_round(&mut self, limit: usize, max: usize) -> usize {
        let mean = self.round.sum / self.round.answers.max(1) as f64;
        if !self.warm {
            // The first round also paid for getting started (the connection, the peer's
            // fetch of our key, a second and more): as the baseline it made every later
            // rise look small, and the window grew far past what the peer could take.
            self.warm = true;
            return limit;
        }
        let base = self.baseline.get_or_insert(Baseline { mean, var: 0.0 });
        if mean > base.mean + base.tolerance() {
            let better = self.last_rise.is_none_or(|prev| mean < prev * NO_BETTER);
            self.unimproved = if better { 0 } else { self.unimproved + 1 };
            self.last_rise = Some(mean);
            if self.unimproved >= NOT_OURS {
                // Cutting does not help: this is the peer's new normal, not our queue.
                base.mean = mean;
                self.last_rise = None;
                self.unimproved = 0;
                return limit;
            }
            base.lean(mean);
            let cut = cut(limit, LATENCY_CUT);
            self.slow_start_below = cut;
            return cut;
        }
        self.last_rise = None;
        self.unimproved = 0;
        base.take(mean);
        if !self.round.full {
            return limit;
        }
        let grown = if limit < self.slow_start_below {
            limit.saturating_mul(2).min(self.slow_start_below)
        } else {
            limit + 1
        };
        grown.clamp(1, max)
    }

    /// A new round; when the limit changed, answers to requests launched before now are
    /// not counted in it.
    fn start_round(&mut self, limit_changed: bool) {
        let from = if limit_changed {
            self.next_ticket
        } else {
            self.round.from
        };
        self.round = Round {
            from,
            ..Round::default()
        };
    }
}

/// `limit × factor`, at least one less, at least 1.
fn cut(limit: usize, factor: f64) -> usize {
    ((limit as f64 * factor) as usize)
        .min(limit.saturating_sub(1))
        .max(1)
}

#[cfg(test)]
mod tests;
