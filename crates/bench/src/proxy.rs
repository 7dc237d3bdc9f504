//! A TCP proxy that delays every byte by a fixed one-way delay, in both directions.
//!
//! Put it in front of PostgreSQL with a 25 ms delay and every round-trip costs 50 ms more:
//! the database "in another data centre" of the founding incident, on one machine.
//!
//! How the delay is applied, and why:
//! - Each direction has a reader and a writer running concurrently, joined by a queue. The
//!   reader stamps every chunk with `read time + delay`; the writer sleeps until that stamp,
//!   then writes. A chunk read at `t` leaves at `t + delay` no matter how many chunks are in
//!   flight, so the proxy adds latency without cutting throughput (sleeping per chunk in a
//!   single loop would add the delays up). Stamps are monotonic, so order is preserved.
//! - With a zero delay nothing sleeps (a timer would round up to the next millisecond), so
//!   `--db-delay-ms 0` costs only the extra hop. Non-zero delays are as precise as tokio's
//!   millisecond timer: each direction takes the delay plus up to 1 ms.
//! - `TCP_NODELAY` on both sockets: otherwise Nagle's algorithm and delayed ACKs add their
//!   own ~40 ms to small request/response exchanges and the measured delay is not the
//!   configured one.
//! - A half-close (EOF) is forwarded after the same delay; the other direction carries on.
//! - The upstream may be a unix socket: the test suite's private PostgreSQL listens on one only.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Largest chunk read at once.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight per direction before the reader waits (bounds memory to ~16 MiB per
/// direction; beyond it the proxy applies TCP backpressure, as a slow link would).
const IN_FLIGHT: usize = 256;

/// Where the proxy forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A unix socket path (e.g. `/run/postgresql/.s.PGSQL.5432`).
    Unix(PathBuf),
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

impl Target {
    async fn connect(&self) -> io::Result<(Reader, Writer)> {
        match self {
            Target::Tcp(addr) => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let (r, w) = s.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
            Target::Unix(path) => {
                let (r, w) = UnixStream::connect(path).await?.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
        }
    }
}

/// A running proxy on `127.0.0.1:<port>`. Dropping it closes the listener and every
/// proxied connection.
pub struct LatencyProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl LatencyProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `target`,
    /// delaying each direction by `one_way`. Must be called inside a tokio runtime.
    pub async fn start(target: Target, one_way: Duration) -> io::Result<LatencyProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let task = accept_loop(listener, "latency proxy", move |client| {
            counter.fetch_add(1, Ordering::Relaxed);
            serve(client, target.clone(), one_way)
        });
        Ok(LatencyProxy {
            addr,
            accepted,
            task,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// Accepts connections on `listener` and runs `serve` for each until the returned task is
/// aborted; the connection tasks are owned by the loop, so aborting it aborts them all.
pub(crate) fn accept_loop<F, Fut>(
    listener: TcpListener,
    what: &'static str,
    mut serve: F,
) -> JoinHandle<()>
where
    F: FnMut(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((client, _)) => {
                        conns.spawn(serve(client));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "{what}: accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(client: TcpStream, target: Target, delay: Duration) {
    let result = async {
        client.set_nodelay(true)?;
        let (up_r, up_w) = target.connect().await?;
        let (cl_r, cl_w) = client.into_split();
        tokio::try_join!(
            pipe(Box::new(cl_r), up_w, delay),
            pipe(up_r, Box::new(cl_w), delay)
        )?;
        Ok::<_, io::Error>(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "latency proxy: connection ended");
    }
}

/// Copies `from` to `to`, every chunk `delay` after it was read. `None` is the EOF marker.
async fn pipe(mut from: Reader, mut to: Writer, delay: Duration) -> io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(IN_FLIGHT);
    let reading = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = from.read(&mut buf).await?;
            let due = Instant::now() + delay;
            let chunk = (n > 0).then(|| buf[..n].to_vec());
            let eof = chunk.is_none();
            if tx.send((due, chunk)).await.is_err() || eof {
                return Ok::<_, io::Error>(());
            }
        }
    };
    let writing = async move {
        while let Some((due, chunk)) = rx.recv().await {
            // Only sleep when the stamp is ahead: tokio rounds a timer up to the next
            // millisecond tick, so sleeping until a stamp already reached (always, with a
            // zero delay) would add up to a millisecond per chunk and direction.
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            match chunk {
                Some(bytes) => to.write_all(&bytes).await?,
                None => {
                    to.shutdown().await?;
                    break;
                }
            }
        }
        Ok::<_, io::Error>(())
    };
    tokio::try_join!(reading, writing)?;
    Ok(())
}
