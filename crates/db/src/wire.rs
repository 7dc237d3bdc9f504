//! Counting database round-trips on the wire, and sending pipelined queries as one flight.
//!
//! A round-trip is one flight of client messages followed by the server's answer. We count
//! it where it happens: at the socket. Every write that follows a read (or is the first
//! write) starts a new flight. Queries pipelined together leave in one flight and count
//! once; a `BEGIN`, a query and a `COMMIT` sent one after another count three times. That
//! makes the counter an honest measure, independent of how a query was written.
//!
//! **The cork.** tokio-postgres writes from its own I/O task. On a multi-thread runtime that
//! task can send the first of several pipelined statements, and read a local server's
//! answer, before the caller has queued the rest: two flights where one was meant (harmless
//! to latency on a local database, but it makes round-trip counts depend on scheduling).
//! So the instrumented path corks the connection while it queues an operation's statements
//! ([`Cork`]): writes collect in a buffer and leave in one `write` when it is uncorked.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Round-trip count of one connection, and its cork.
#[derive(Debug, Default)]
pub struct WireStats {
    flights: AtomicU64,
    /// True when the last I/O that moved bytes was a read (so the next write is a new flight).
    last_was_read: AtomicBool,
    corked: AtomicBool,
    /// The I/O task waiting for the cork to come off.
    flush_waiter: Mutex<Option<Waker>>,
}

impl WireStats {
    /// Round-trips so far on this connection.
    pub fn roundtrips(&self) -> u64 {
        self.flights.load(Ordering::Relaxed)
    }

    fn wrote(&self) {
        if self.last_was_read.swap(false, Ordering::Relaxed) {
            self.flights.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) {
        self.last_was_read.store(true, Ordering::Relaxed);
    }

    fn new() -> Self {
        WireStats {
            flights: AtomicU64::new(0),
            last_was_read: AtomicBool::new(true),
            corked: AtomicBool::new(false),
            flush_waiter: Mutex::new(None),
        }
    }

    fn uncork(&self) {
        self.corked.store(false, Ordering::Release);
        let waiter = self
            .flush_waiter
            .lock()
            .map(|mut w| w.take())
            .unwrap_or(None);
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

/// Holds a connection's writes back until it is dropped (see the module docs).
pub(crate) struct Cork<'a>(&'a WireStats);

impl<'a> Cork<'a> {
    pub(crate) fn new(stats: &'a WireStats) -> Self {
        stats.corked.store(true, Ordering::Release);
        Cork(stats)
    }
}

impl Drop for Cork<'_> {
    fn drop(&mut self) {
        self.0.uncork();
    }
}

/// A TCP or unix-socket stream to PostgreSQL.
pub(crate) enum RawStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A stream that counts flights into a shared [`WireStats`] and honours its cork.
pub(crate) struct CountingStream {
    inner: RawStream,
    stats: Arc<WireStats>,
    /// Bytes accepted while corked, not yet on the socket.
    held: Vec<u8>,
}

impl CountingStream {
    pub(crate) fn new(inner: RawStream) -> (Self, Arc<WireStats>) {
        let stats = Arc::new(WireStats::new());
        (
            CountingStream {
                inner,
                stats: stats.clone(),
                held: Vec::new(),
            },
            stats,
        )
    }

    fn raw_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = match &mut self.inner {
            RawStream::Tcp(s) => Pin::new(s).poll_write(cx, data),
            RawStream::Unix(s) => Pin::new(s).poll_write(cx, data),
        };
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.stats.wrote();
        }
        r
    }

    /// Sends what the cork held back; Ready once all of it is on the socket.
    fn drain_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            match self.raw_write(cx, &held) {
                Poll::Ready(Ok(0)) => {
                    self.held = held;
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.held = held[n..].to_vec(),
                Poll::Ready(Err(e)) => {
                    self.held = held;
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    self.held = held;
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn is_corked(&self, cx: &mut Context<'_>) -> bool {
        if !self.stats.corked.load(Ordering::Acquire) {
            return false;
        }
        if let Ok(mut w) = self.stats.flush_waiter.lock() {
            *w = Some(cx.waker().clone());
        }
        // Uncorked between the check and registering the waker: do not sleep.
        self.stats.corked.load(Ordering::Acquire)
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = match &mut this.inner {
            RawStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            RawStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        };
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.stats.read();
        }
        r
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.stats.corked.load(Ordering::Acquire) {
            this.held.extend_from_slice(data);
            return Poll::Ready(Ok(data.len()));
        }
        match this.drain_held(cx) {
            Poll::Ready(Ok(())) => this.raw_write(cx, data),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.is_corked(cx) {
            return Poll::Pending;
        }
        match this.drain_held(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match &mut this.inner {
            RawStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            RawStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain_held(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match &mut this.inner {
            RawStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            RawStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
