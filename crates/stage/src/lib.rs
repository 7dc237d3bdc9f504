//! The one shape of every long-running stage of sluice (the inbox's journal writer and
//! probe, the refusal flusher, the pipeline's processors, the send queue, pruning, the
//! Fediseer sync): its `*Config` is built from the server configuration, and
//! `config.start(deps, shutdown)` starts its tasks on the current runtime and returns a
//! [`Handle`]. The stage runs until its [`Shutdown`] is triggered, then finishes what it
//! holds (a batch in progress commits, queued inserts are written, cursors are persisted)
//! and its tasks end; [`Handle::join`] waits for that. A stage that others can hurry (new
//! work was appended for it) hands out a [`Waker`].
//!
//! [`Stages`] holds the handles of a process in start order and stops them in reverse
//! order, each finished before the one started before it is told to stop.

#![deny(missing_docs)]

use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Tells a stage to stop. Cheap to clone; every clone sees the trigger.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A signal not triggered yet.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every task watching this signal to stop.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes once triggered (at once when it already was).
    pub fn triggered(&self) -> impl Future<Output = ()> + Send + '_ {
        self.0.cancelled()
    }
}

/// Hurries a stage: something was appended for it, look now instead of at the next poll.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Waker {
    notify: Arc<Notify>,
    kept: bool,
}

impl Waker {
    /// For a stage of several tasks: wakes every task waiting now. Each task registers
    /// ([`Waker::notified`], enabled) before it looks for work, so a wake-up between its
    /// look and its wait is not lost, and no wake-up is kept for a task not waiting.
    pub fn waiting() -> Waker {
        Waker {
            notify: Arc::new(Notify::new()),
            kept: false,
        }
    }

    /// For a stage with one poller: wakes it now, or, when it is busy, its next wait
    /// (one wake-up is kept).
    pub fn kept() -> Waker {
        Waker {
            notify: Arc::new(Notify::new()),
            kept: true,
        }
    }

    /// Look now.
    pub fn wake(&self) {
        if self.kept {
            self.notify.notify_one();
        } else {
            self.notify.notify_waiters();
        }
    }

    /// The stage's side: completes at the next [`Waker::wake`].
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

/// A started stage.
pub struct Handle {
    name: &'static str,
    shutdown: Shutdown,
    waker: Option<Waker>,
    done: BoxFuture<'static, ()>,
}

impl Handle {
    /// A stage whose tasks end by themselves once `shutdown` is triggered.
    pub fn new(name: &'static str, shutdown: Shutdown, tasks: Vec<JoinHandle<()>>) -> Handle {
        Handle::from_future(name, shutdown, async move {
            // A task that panicked has logged it; the others still get to finish.
            for t in tasks {
                let _ = t.await;
            }
        })
    }

    /// A stage that is done when `done` completes (it waits for `shutdown` itself, then
    /// stops its parts in the order it needs).
    pub fn from_future(
        name: &'static str,
        shutdown: Shutdown,
        done: impl Future<Output = ()> + Send + 'static,
    ) -> Handle {
        Handle {
            name,
            shutdown,
            waker: None,
            done: Box::pin(done),
        }
    }

    /// The same handle, handing out `waker`.
    pub fn with_waker(mut self, waker: Waker) -> Handle {
        self.waker = Some(waker);
        self
    }

    /// The stage's name, for logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Wakes the stage (`None`: it takes no wake-ups).
    pub fn waker(&self) -> Option<Waker> {
        self.waker.clone()
    }

    /// Waits until the stage has stopped (after its shutdown was triggered, by
    /// [`Handle::stop`] or by whoever holds the signal).
    pub async fn join(self) {
        self.done.await
    }

    /// Triggers the stage's shutdown and waits until it has stopped.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.join().await
    }
}

/// The running stages of a process, in start order.
#[derive(Default)]
pub struct Stages {
    started: Vec<Handle>,
}

impl Stages {
    /// No stages.
    pub fn new() -> Stages {
        Stages::default()
    }

    /// Adds a started stage.
    pub fn add(&mut self, handle: Handle) {
        self.started.push(handle);
    }

    /// Stops the stages, the last started first, each finished before the next is told to
    /// stop. Start the end of the data path first: then every stage stops while the stages
    /// its last output goes to still run.
    pub async fn stop(mut self) {
        while let Some(h) = self.started.pop() {
            h.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn stages_stop_last_started_first_each_finished_before_the_next() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stages = Stages::new();
        for name in ["queue", "pipeline", "inbox"] {
            let shutdown = Shutdown::new();
            let (s, l) = (shutdown.clone(), log.clone());
            let task = tokio::spawn(async move {
                s.triggered().await;
                tokio::task::yield_now().await;
                l.lock().unwrap().push(name);
            });
            stages.add(Handle::new(name, shutdown, vec![task]));
        }
        stages.stop().await;
        assert_eq!(*log.lock().unwrap(), ["inbox", "pipeline", "queue"]);
    }

    #[tokio::test]
    async fn a_kept_wake_up_reaches_the_next_wait() {
        let w = Waker::kept();
        w.wake();
        w.notified().await;
    }

    #[tokio::test]
    async fn a_waiting_waker_wakes_a_registered_waiter() {
        let w = Waker::waiting();
        let n = w.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        w.wake();
        n.await;
    }
}
