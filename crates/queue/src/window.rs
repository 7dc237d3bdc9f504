//! The in-flight window of one instance's worker: which activity goes next, and how far the
//! cursor may move. Pure bookkeeping, no I/O.
//!
//! Invariants:
//! - Activities are launched in outbound-id order; a transient failure stops new launches
//!   until every failed activity has been delivered (or dropped) again.
//! - An activity is not launched while another about the same object is in flight, so
//!   activities about one object never overtake each other on the wire.
//! - The cursor is the end of the contiguous run of finished activities (delivered, dropped
//!   with an rc, or skipped by policy). It never passes an unfinished one.
//! - The window has a **maximum** (its crash bound, fixed at creation) and a current
//!   **limit** (1 ..= maximum; the worker sets it from the instance's concurrency before
//!   launching, see `crate::concurrency`). A new activity is launched only while fewer than
//!   `limit` are *sent and not yet covered by the persisted cursor* (in flight, waiting for a
//!   retry, or finished but not yet written), and a retry only while fewer than `limit` are
//!   in flight. When the limit shrinks, what is already launched stays; nothing new goes
//!   until the window is under the new limit.
//! - Hence at most `maximum` activities are sent and not yet covered by the persisted cursor
//!   (only a new launch adds to that count, and only below a limit ≤ maximum). A crash
//!   therefore re-sends at most `maximum` activities per instance, however the limit moved.

use bytes::Bytes;
use std::collections::VecDeque;

/// One activity to deliver to one instance.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Outbound id.
    pub id: i64,
    /// The activity's id (logs).
    pub activity_id: String,
    /// The signing local actor.
    pub actor: String,
    /// What it is about (wire ordering).
    pub object: Option<String>,
    /// The body to send.
    pub body: Bytes,
    /// Inboxes on this instance still to deliver to.
    pub inboxes: Vec<String>,
    /// The instance's policy refused it when it was fetched: skip, send nothing.
    pub refused: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InFlight,
    Waiting,
    Done { sent: bool },
}

#[derive(Debug)]
struct Entry {
    item: Delivery,
    state: State,
    attempts: u32,
    epoch: u64,
}

impl Entry {
    fn counts(&self) -> bool {
        !matches!(self.state, State::Done { sent: false })
    }
}

/// What to do next.
#[derive(Debug)]
pub enum Launch {
    /// Send this (a first attempt or a retry).
    Send(Delivery),
    /// Refusal by policy: finished without sending (its outbound id).
    Skipped(i64),
}

/// The window.
#[derive(Debug)]
pub struct Window {
    max: usize,
    limit: usize,
    cursor: i64,
    persisted: i64,
    launched: VecDeque<Entry>,
    unpersisted: VecDeque<i64>,
    queue: VecDeque<Delivery>,
}

impl Window {
    /// A window of at most `max` (its limit starts there) after the persisted cursor
    /// `cursor`.
    pub fn new(max: usize, cursor: i64) -> Self {
        let max = max.max(1);
        Window {
            max,
            limit: max,
            cursor,
            persisted: cursor,
            launched: VecDeque::new(),
            unpersisted: VecDeque::new(),
            queue: VecDeque::new(),
        }
    }

    /// Sets the current limit (clamped to 1 ..= the maximum); launches already made stay.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.clamp(1, self.max);
    }

    /// Adds fetched activities (in id order, after everything already held).
    pub fn extend(&mut self, items: impl IntoIterator<Item = Delivery>) {
        self.queue.extend(items);
    }

    /// Fetched, not yet launched.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Every outbound id up to this one is finished (in memory).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Sent and not covered by the persisted cursor.
    pub fn occupancy(&self) -> usize {
        self.launched.iter().filter(|e| e.counts()).count() + self.unpersisted.len()
    }

    fn in_flight(&self) -> usize {
        self.launched
            .iter()
            .filter(|e| e.state == State::InFlight)
            .count()
    }

    /// Some activity failed and waits for its retry.
    pub fn waiting(&self) -> bool {
        self.launched.iter().any(|e| e.state == State::Waiting)
    }

    /// The window is full only because finished work is not yet persisted: a cursor write
    /// would let more go.
    pub fn needs_flush(&self) -> bool {
        self.occupancy() >= self.limit && !self.unpersisted.is_empty()
    }

    fn retrying(&self) -> bool {
        self.launched
            .iter()
            .any(|e| e.state == State::Waiting || (e.state == State::InFlight && e.attempts > 1))
    }

    fn object_in_flight(&self, object: &Option<String>) -> bool {
        object.is_some()
            && self
                .launched
                .iter()
                .any(|e| e.state == State::InFlight && &e.item.object == object)
    }

    /// The next step allowed now, if any; `epoch` is the worker's failure epoch (recorded
    /// with the launch). The worker asks only when it is not backing off.
    pub fn next(&mut self, epoch: u64) -> Option<Launch> {
        if self.waiting() {
            if self.in_flight() >= self.limit {
                return None;
            }
            let pos = self
                .launched
                .iter()
                .position(|e| e.state == State::Waiting)?;
            if self.object_in_flight(&self.launched[pos].item.object) {
                return None;
            }
            let e = &mut self.launched[pos];
            e.state = State::InFlight;
            e.attempts += 1;
            e.epoch = epoch;
            return Some(Launch::Send(e.item.clone()));
        }
        if self.retrying() {
            return None;
        }
        let front = self.queue.front()?;
        if front.refused {
            let item = self.queue.pop_front()?;
            self.launched.push_back(Entry {
                item: item.clone(),
                state: State::Done { sent: false },
                attempts: 0,
                epoch,
            });
            self.advance();
            return Some(Launch::Skipped(item.id));
        }
        if self.occupancy() >= self.limit || self.object_in_flight(&front.object) {
            return None;
        }
        debug_assert!(self.occupancy() < self.max, "the crash bound holds");
        let item = self.queue.pop_front()?;
        self.launched.push_back(Entry {
            item: item.clone(),
            state: State::InFlight,
            attempts: 1,
            epoch,
        });
        Some(Launch::Send(item))
    }

    /// Records the end of an attempt on `id`: `remaining` are the inboxes that still need
    /// it (empty: finished). Returns the failure epoch the attempt was launched in, or
    /// `None` for an unknown id.
    pub fn complete(&mut self, id: i64, remaining: Vec<String>) -> Option<u64> {
        let e = self.launched.iter_mut().find(|e| e.item.id == id)?;
        let epoch = e.epoch;
        if remaining.is_empty() {
            e.state = State::Done { sent: true };
            e.item.body = Bytes::new();
        } else {
            e.state = State::Waiting;
            e.item.inboxes = remaining;
        }
        self.advance();
        Some(epoch)
    }

    fn advance(&mut self) {
        while let Some(e) = self.launched.front() {
            let State::Done { sent } = e.state else { break };
            self.cursor = e.item.id;
            if sent {
                self.unpersisted.push_back(e.item.id);
            }
            self.launched.pop_front();
        }
    }

    /// The instance's policy now refuses it (a block landed): nothing not yet delivered is
    /// sent. Fetched activities not launched are skipped when their turn comes, and those
    /// waiting for a retry are finished unsent at once; attempts already on the wire cannot
    /// be called back. Returns how many waiting ones were finished.
    pub fn recall(&mut self) -> usize {
        for item in &mut self.queue {
            item.refused = true;
        }
        let mut recalled = 0;
        for e in &mut self.launched {
            if e.state == State::Waiting {
                e.state = State::Done { sent: false };
                e.item.body = Bytes::new();
                recalled += 1;
            }
        }
        self.advance();
        recalled
    }

    /// The cursor is persisted up to `upto`.
    pub fn persisted(&mut self, upto: i64) {
        self.persisted = self.persisted.max(upto);
        while self.unpersisted.front().is_some_and(|&id| id <= upto) {
            self.unpersisted.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, object: &str) -> Delivery {
        Delivery {
            id,
            activity_id: format!("a{id}"),
            actor: "x".into(),
            object: Some(object.into()),
            body: Bytes::from_static(b"{}"),
            inboxes: vec!["https://peer.example/inbox".into()],
            refused: false,
        }
    }

    fn sent(s: Option<Launch>) -> i64 {
        match s {
            Some(Launch::Send(i)) => i.id,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn cursor_moves_only_over_a_contiguous_run() {
        let mut w = Window::new(4, 0);
        w.extend((1..=6).map(|i| item(i, &format!("o{i}"))));
        let ids: Vec<i64> = (0..4).map(|_| sent(w.next(0))).collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        assert!(w.next(0).is_none(), "window of 4 is full");
        w.complete(2, vec![]);
        w.complete(3, vec![]);
        assert_eq!(w.cursor(), 0, "1 is still in flight");
        assert!(w.next(0).is_none(), "2 and 3 are not persisted yet");
        w.complete(1, vec![]);
        assert_eq!(w.cursor(), 3);
        assert!(w.needs_flush());
        w.persisted(3);
        assert_eq!(sent(w.next(0)), 5);
        assert_eq!(sent(w.next(0)), 6);
    }

    #[test]
    fn same_object_is_never_on_the_wire_twice() {
        let mut w = Window::new(8, 0);
        w.extend([item(1, "p"), item(2, "q"), item(3, "p"), item(4, "r")]);
        assert_eq!(sent(w.next(0)), 1);
        assert_eq!(sent(w.next(0)), 2);
        assert!(w.next(0).is_none(), "3 waits for 1 (same object)");
        w.complete(1, vec![]);
        assert_eq!(sent(w.next(0)), 3);
        assert_eq!(sent(w.next(0)), 4);
    }

    #[test]
    fn a_failure_stops_new_launches_until_the_retry_succeeds() {
        let mut w = Window::new(8, 0);
        w.extend((1..=4).map(|i| item(i, &format!("o{i}"))));
        assert_eq!(sent(w.next(0)), 1);
        assert_eq!(sent(w.next(0)), 2);
        assert_eq!(
            w.complete(1, vec!["https://peer.example/inbox".into()]),
            Some(0)
        );
        assert!(w.waiting());
        assert_eq!(sent(w.next(1)), 1, "the retry goes first");
        assert!(w.next(1).is_none(), "nothing new while a retry is out");
        assert_eq!(w.complete(1, vec![]), Some(1));
        w.complete(2, vec![]);
        assert_eq!(w.cursor(), 2);
        assert_eq!(sent(w.next(1)), 3);
    }

    #[test]
    fn refused_items_are_skipped_without_taking_room() {
        let mut w = Window::new(1, 0);
        let mut r = item(2, "o2");
        r.refused = true;
        w.extend([item(1, "o1"), r, item(3, "o3")]);
        assert_eq!(sent(w.next(0)), 1);
        assert!(w.next(0).is_some_and(|s| matches!(s, Launch::Skipped(2))));
        w.complete(1, vec![]);
        assert_eq!(w.cursor(), 2, "the skipped one is finished too");
        w.persisted(2);
        assert_eq!(sent(w.next(0)), 3);
    }

    #[test]
    fn a_recall_stops_everything_not_yet_on_the_wire() {
        let mut w = Window::new(2, 0);
        w.extend((1..=5).map(|i| item(i, &format!("o{i}"))));
        assert_eq!(sent(w.next(0)), 1);
        assert_eq!(sent(w.next(0)), 2);
        // 1 failed and waits for its retry; 2 is on the wire; 3..5 are queued.
        w.complete(1, vec!["https://peer.example/inbox".into()]);
        assert_eq!(w.recall(), 1);
        // 2 still completes (it was already sent); nothing else is ever sent.
        w.complete(2, vec![]);
        let mut skipped = Vec::new();
        while let Some(step) = w.next(0) {
            match step {
                Launch::Skipped(id) => skipped.push(id),
                Launch::Send(i) => panic!("{} sent after the recall", i.id),
            }
        }
        assert_eq!(skipped, vec![3, 4, 5]);
        assert_eq!(w.cursor(), 5, "every recalled activity is finished");
    }

    #[test]
    fn a_shrinking_limit_keeps_what_is_launched_and_launches_nothing_until_under_it() {
        let mut w = Window::new(8, 0);
        w.extend((1..=12).map(|i| item(i, &format!("o{i}"))));
        let ids: Vec<i64> = (0..8).map(|_| sent(w.next(0))).collect();
        assert_eq!(ids, (1..=8).collect::<Vec<_>>());
        w.set_limit(2);
        assert!(w.next(0).is_none(), "8 launched, limit 2");
        for id in 1..=6 {
            w.complete(id, vec![]);
        }
        w.persisted(6);
        assert_eq!(w.occupancy(), 2, "7 and 8 still in flight");
        assert!(w.next(0).is_none(), "not under the new limit yet");
        w.complete(7, vec![]);
        w.persisted(7);
        assert_eq!(sent(w.next(0)), 9);
        assert!(w.next(0).is_none());
        w.set_limit(100);
        assert_eq!(w.limit, 8, "never above the maximum");
    }

    #[test]
    fn retries_respect_the_limit() {
        let mut w = Window::new(4, 0);
        w.extend((1..=4).map(|i| item(i, &format!("o{i}"))));
        for _ in 0..4 {
            sent(w.next(0));
        }
        for id in 1..=4 {
            w.complete(id, vec!["https://peer.example/inbox".into()]);
        }
        // The peer said 429: one request at a time.
        w.set_limit(1);
        assert_eq!(sent(w.next(1)), 1);
        assert!(w.next(1).is_none(), "one retry on the wire at a limit of 1");
        w.complete(1, vec![]);
        assert_eq!(sent(w.next(1)), 2);
    }

    #[test]
    fn the_crash_bound_holds_however_the_limit_moves() {
        // A seeded walk through launches, answers, failures, writes and limit changes.
        let mut seed = 0x2545_f491_u64;
        let mut roll = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut w = Window::new(6, 0);
        w.extend((1..=3000).map(|i| item(i, &format!("o{}", i % 5))));
        let mut on_wire: Vec<i64> = Vec::new();
        for _ in 0..20_000 {
            match roll(6) {
                0 => w.set_limit(1 + roll(10) as usize),
                1 | 2 => {
                    if let Some(Launch::Send(i)) = w.next(0) {
                        on_wire.push(i.id);
                    }
                }
                3 | 4 if !on_wire.is_empty() => {
                    let id = on_wire.swap_remove(roll(on_wire.len() as u64) as usize);
                    let failed = roll(8) == 0;
                    let left = if failed {
                        vec!["https://peer.example/inbox".into()]
                    } else {
                        vec![]
                    };
                    w.complete(id, left);
                }
                _ => w.persisted(w.cursor()),
            }
            assert!(w.occupancy() <= 6, "occupancy {}", w.occupancy());
            assert!(w.in_flight() <= 6);
        }
        assert!(w.cursor() > 100, "the walk made progress: {}", w.cursor());
    }
}
