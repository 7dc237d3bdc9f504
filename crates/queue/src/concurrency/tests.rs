//! The controller against simulated peers: a closed loop that keeps the window full, with
//! a peer of `slots` workers serving requests first come, first served. Deterministic
//! (a seeded generator, simulated time).

use super::*;

/// xorshift64*: enough randomness for noise, the same on every run.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The worker's loop against a peer, in simulated seconds.
struct Sim {
    now: f64,
    /// When each of the peer's workers is free again.
    slots: Vec<f64>,
    /// (answered at, ticket, answer time).
    in_flight: Vec<(f64, u64, f64)>,
    rng: Rng,
}

/// What a run saw: the limit and the answer time after each answer.
#[derive(Default)]
struct Trace {
    limits: Vec<usize>,
    answer_times: Vec<f64>,
}

impl Trace {
    fn tail(&self, n: usize) -> (&[usize], &[f64]) {
        let l = self.limits.len().saturating_sub(n);
        let a = self.answer_times.len().saturating_sub(n);
        (&self.limits[l..], &self.answer_times[a..])
    }
}

fn mean<T: Copy + Into<f64>>(v: &[T]) -> f64 {
    v.iter().map(|x| (*x).into()).sum::<f64>() / v.len().max(1) as f64
}

fn mean_limit(limits: &[usize]) -> f64 {
    limits.iter().map(|&l| l as f64).sum::<f64>() / limits.len().max(1) as f64
}

impl Sim {
    fn new(slots: usize) -> Sim {
        Sim {
            now: 0.0,
            slots: vec![0.0; slots],
            in_flight: Vec::new(),
            rng: Rng(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// Runs until `answers` more answers, each taking `service(rng)` of a peer worker.
    fn run(
        &mut self,
        c: &mut Concurrency,
        answers: usize,
        mut service: impl FnMut(&mut Rng) -> f64,
    ) -> Trace {
        let mut t = Trace::default();
        for _ in 0..answers {
            while self.in_flight.len() < c.limit() {
                let ticket = c.launched(self.in_flight.len() + 1);
                let (i, free) = self
                    .slots
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("a peer has workers");
                let end = self.now.max(free) + service(&mut self.rng);
                self.slots[i] = end;
                self.in_flight.push((end, ticket, end - self.now));
            }
            let first = (0..self.in_flight.len())
                .min_by(|&a, &b| self.in_flight[a].0.total_cmp(&self.in_flight[b].0))
                .expect("something is in flight");
            let (end, ticket, took) = self.in_flight.swap_remove(first);
            self.now = end;
            c.observe(ticket, Signal::Answered(Duration::from_secs_f64(took)));
            t.limits.push(c.limit());
            t.answer_times.push(took);
        }
        t
    }

    /// Every request in flight is answered `signal` now.
    fn answer_all(&mut self, c: &mut Concurrency, signal: Signal) {
        for (_, ticket, _) in self.in_flight.drain(..) {
            c.observe(ticket, signal);
        }
    }
}

const IDLE: f64 = 0.2;

/// A limit of at most 64 that reached it against a flat peer taking 64 at once.
fn at_the_maximum() -> (Concurrency, Sim) {
    let mut c = Concurrency::adaptive(64);
    let mut sim = Sim::new(64);
    sim.run(&mut c, 1000, |_| IDLE);
    assert_eq!(c.limit(), 64);
    (c, sim)
}

#[test]
fn a_flat_peer_that_takes_64_gets_the_maximum_quickly() {
    let mut c = Concurrency::adaptive(64);
    let mut sim = Sim::new(64);
    let t = sim.run(&mut c, 3000, |_| IDLE);
    let reached = t.limits.iter().position(|&l| l == 64);
    assert!(
        reached.is_some_and(|i| i < 400),
        "slow start reaches 64 within a few hundred answers: {reached:?}"
    );
    let (limits, _) = t.tail(2000);
    assert!(limits.iter().all(|&l| l == 64), "and stays there");
}

#[test]
fn a_peer_that_queues_beyond_4_settles_between_4_and_8() {
    // Four workers: at 8 concurrent requests the answer time doubles. Exact answer times,
    // then ±10 % and ±20 % on each.
    for noise in [0.0, 0.2, 0.4] {
        let mut c = Concurrency::adaptive(64);
        let mut sim = Sim::new(4);
        let t = sim.run(&mut c, 4000, |r| {
            IDLE * (1.0 - noise / 2.0 + noise * r.unit())
        });
        let (limits, times) = t.tail(3000);
        let (lo, hi) = (*limits.iter().min().unwrap(), *limits.iter().max().unwrap());
        let avg = mean_limit(limits);
        let slowdown = mean(times) / IDLE;
        eprintln!("noise {noise}: window {avg:.2} ({lo}..={hi}), answer time {slowdown:.2}× idle");
        assert!((4.0..=8.0).contains(&avg), "settled at {avg} ({lo}..={hi})");
        assert!(lo >= 2 && hi <= 9, "stays near it: {lo}..={hi}");
        assert!(slowdown <= 1.5, "answer time {slowdown:.2}× idle");
    }
}

#[test]
fn a_slow_first_answer_does_not_widen_what_counts_as_near() {
    // The first delivery to a peer also waits for the peer to fetch our key (a second and
    // more); the answers after it are the peer's own. That one outlier must not make every
    // later rise look like noise.
    for first in [1.0, 3.0] {
        let mut c = Concurrency::adaptive(64);
        let mut sim = Sim::new(4);
        let mut n = 0;
        let t = sim.run(&mut c, 4000, |_| {
            n += 1;
            if n == 1 { first } else { IDLE }
        });
        let (limits, times) = t.tail(3000);
        let avg = mean_limit(limits);
        let slowdown = mean(times) / IDLE;
        eprintln!("first answer {first} s: window {avg:.2}, answer time {slowdown:.2}× idle");
        assert!((4.0..=8.0).contains(&avg), "settled at {avg}");
        assert!(slowdown <= 1.5, "answer time {slowdown:.2}× idle");
    }
}

#[test]
fn a_429_drops_to_1_and_the_limit_grows_back() {
    let (mut c, mut sim) = at_the_maximum();
    // The whole window is answered 429: one drop, the slow-start threshold halved once.
    sim.answer_all(&mut c, Signal::SlowDown);
    assert_eq!(c.limit(), 1);
    // The worker waits the peer's Retry-After; then the peer is fine again.
    sim.now += 2.0;
    let t = sim.run(&mut c, 6000, |_| IDLE);
    let half = t.limits.iter().position(|&l| l >= 32);
    assert!(
        half.is_some_and(|i| i < 200),
        "slow start back to half the old limit: {half:?}"
    );
    assert_eq!(c.limit(), 64, "then additively back to the maximum");
}

#[test]
fn trouble_halves_the_limit_once_per_round() {
    let (mut c, mut sim) = at_the_maximum();
    // Every request on the wire fails the same way: one cut, not 64.
    sim.answer_all(&mut c, Signal::Trouble);
    assert_eq!(c.limit(), 32);
    // A refusal (4xx) says nothing about load.
    let ticket = c.launched(1);
    c.observe(ticket, Signal::Neutral);
    assert_eq!(c.limit(), 32);
    // A failure of a request launched after the cut cuts again.
    c.observe(ticket, Signal::Trouble);
    assert_eq!(c.limit(), 16);
}

#[test]
fn noise_does_not_make_it_collapse() {
    let mut c = Concurrency::adaptive(64);
    let mut sim = Sim::new(64);
    // ±25 % on every answer, and one answer in 20 takes three times as long.
    let t = sim.run(&mut c, 8000, |r| {
        let spike = if r.unit() < 0.05 { 3.0 } else { 1.0 };
        IDLE * (0.75 + 0.5 * r.unit()) * spike
    });
    let (limits, _) = t.tail(6000);
    let low = *limits.iter().min().unwrap();
    let avg = mean_limit(limits);
    assert!(low >= 32, "never below half the maximum: {low}");
    assert!(avg >= 48.0, "mostly near the maximum: {avg}");
}

#[test]
fn a_peer_that_gets_slower_by_itself_is_not_starved() {
    let (mut c, mut sim) = at_the_maximum();
    // The peer now answers in twice the time whatever we send (its own trouble).
    let t = sim.run(&mut c, 3000, |_| 2.0 * IDLE);
    let low = *t.limits.iter().min().unwrap();
    assert!(
        low >= 32,
        "a few cuts, then the slower answer is the new normal: {low}"
    );
    assert_eq!(c.limit(), 64);
}

#[test]
fn a_fixed_window_never_moves() {
    let mut c = Concurrency::fixed(8);
    let mut sim = Sim::new(2);
    let t = sim.run(&mut c, 500, |_| IDLE);
    assert!(t.limits.iter().all(|&l| l == 8));
    sim.answer_all(&mut c, Signal::SlowDown);
    assert_eq!((c.limit(), c.max()), (8, 8));
    assert_eq!(Concurrency::fixed(0).limit(), 1);
    assert_eq!(Concurrency::adaptive(0).max(), 1);
}

#[test]
fn hostile_answer_times_and_tickets_do_not_panic() {
    let mut c = Concurrency::adaptive(16);
    let mut rng = Rng(7);
    let odd = [
        Duration::ZERO,
        Duration::MAX,
        Duration::from_nanos(1),
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(3600 * 24 * 365),
    ];
    for i in 0..20_000u64 {
        let occupancy = (rng.unit() * 40.0) as usize;
        let ticket = c.launched(occupancy);
        let ticket = match i % 7 {
            0 => u64::MAX,
            1 => 0,
            _ => ticket,
        };
        let signal = match (rng.unit() * 10.0) as u32 {
            0 => Signal::SlowDown,
            1 => Signal::Trouble,
            2 => Signal::Neutral,
            _ => Signal::Answered(odd[(rng.unit() * odd.len() as f64) as usize % odd.len()]),
        };
        c.observe(ticket, signal);
        assert!((1..=16).contains(&c.limit()), "{}", c.limit());
    }
    // Answers of zero, then normal ones: no division by zero, the limit still grows.
    let mut c = Concurrency::adaptive(8);
    for _ in 0..200 {
        let t = c.launched(c.limit());
        c.observe(t, Signal::Answered(Duration::ZERO));
    }
    assert_eq!(c.limit(), 8);
}
