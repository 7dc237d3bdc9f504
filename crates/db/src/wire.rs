//! Counting database round-trips on the wire.
//!
//! A round-trip is one flight of client messages followed by the server's answer. We count
//! it where it happens: at the socket. Every write that follows a read (or is the first
//! write) starts a new flight. Queries pipelined together leave in one flight and count
//! once; a `BEGIN`, a query and a `COMMIT` sent one after another count three times. That
//! makes the counter an honest measure, independent of how a query was written.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Round-trip count of one connection.
#[derive(Debug, Default)]
pub struct WireStats {
    flights: AtomicU64,
    /// True when the last I/O that moved bytes was a read (so the next write is a new flight).
    last_was_read: AtomicBool,
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
        }
    }
}

/// A TCP or unix-socket stream to PostgreSQL.
pub(crate) enum RawStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A stream that counts flights into a shared [`WireStats`].
pub(crate) struct CountingStream {
    inner: RawStream,
    stats: Arc<WireStats>,
}

impl CountingStream {
    pub(crate) fn new(inner: RawStream) -> (Self, Arc<WireStats>) {
        let stats = Arc::new(WireStats::new());
        (
            CountingStream {
                inner,
                stats: stats.clone(),
            },
            stats,
        )
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
        let r = match &mut this.inner {
            RawStream::Tcp(s) => Pin::new(s).poll_write(cx, data),
            RawStream::Unix(s) => Pin::new(s).poll_write(cx, data),
        };
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.stats.wrote();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            RawStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            RawStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            RawStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            RawStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
