//! A TCP load balancer in front of several `sluice serve` processes serving one domain.
//!
//! What a deployment puts before a scaled-out instance (nginx's or HAProxy's `upstream`),
//! reduced to what the scale-out scenario needs:
//! - each new connection goes to the next backend in turn (round robin), then bytes are
//!   copied both ways until either side closes; HTTP keep-alive keeps a client on the
//!   backend its connection went to, as with any connection-level balancer;
//! - a backend whose connect fails (its process is gone: the port refuses) is skipped for
//!   [`FAIL_TIMEOUT`] (nginx's passive `max_fails=1 fail_timeout`), and the connection tries
//!   the next one, so a client only sees the failure of connections that were open to the
//!   dead process; it retries them, and the retry lands on a live one.
//!
//! No delay and no parsing: the latency under study is the database's (see `proxy`).

use crate::proxy::accept_loop;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a backend that refused a connection is left out.
pub const FAIL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Backend {
    addr: SocketAddr,
    down_until: Option<Instant>,
    /// Connections sent to it so far.
    connections: u64,
}

#[derive(Debug, Default)]
struct Pool {
    backends: Mutex<Vec<Backend>>,
    next: AtomicUsize,
    /// Client connections closed because no backend accepted them.
    refused: AtomicU64,
}

impl Pool {
    /// The backends to try for a new connection, in order: the live ones from the next in
    /// turn, then (if every one is marked down) all of them, in case one came back.
    fn order(&self) -> Vec<SocketAddr> {
        let backends = self
            .backends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = backends.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let turn = (0..n).map(|k| &backends[(start + k) % n]);
        let live: Vec<SocketAddr> = turn
            .clone()
            .filter(|b| b.down_until.is_none_or(|t| t <= now))
            .map(|b| b.addr)
            .collect();
        if live.is_empty() {
            turn.map(|b| b.addr).collect()
        } else {
            live
        }
    }

    fn mark(&self, addr: SocketAddr, up: bool) {
        let mut backends = self
            .backends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = backends.iter_mut().find(|b| b.addr == addr) {
            if up {
                b.down_until = None;
                b.connections += 1;
            } else {
                b.down_until = Some(Instant::now() + FAIL_TIMEOUT);
            }
        }
    }
}

/// A running balancer on `127.0.0.1:<port>`. Dropping it closes the listener and every
/// connection through it.
pub struct Balancer {
    addr: SocketAddr,
    pool: Arc<Pool>,
    task: JoinHandle<()>,
}

impl Balancer {
    /// Listens on 127.0.0.1 (a free port) with no backend yet ([`Balancer::add`]): the
    /// processes behind it need its address as their domain before they start.
    pub async fn start() -> io::Result<Balancer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let pool = Arc::new(Pool::default());
        let shared = pool.clone();
        let task = accept_loop(listener, "balancer", move |client| {
            serve(client, shared.clone())
        });
        Ok(Balancer { addr, pool, task })
    }

    /// Sends new connections to `backend` too.
    pub fn add(&self, backend: SocketAddr) {
        self.pool
            .backends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Backend {
                addr: backend,
                down_until: None,
                connections: 0,
            });
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections sent to each backend so far, in the order they were added.
    pub fn connections(&self) -> Vec<u64> {
        self.pool
            .backends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|b| b.connections)
            .collect()
    }

    /// Client connections closed because no backend accepted them.
    pub fn refused(&self) -> u64 {
        self.pool.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, pool: Arc<Pool>) {
    let _ = client.set_nodelay(true);
    for addr in pool.order() {
        match TcpStream::connect(addr).await {
            Ok(mut upstream) => {
                pool.mark(addr, true);
                let _ = upstream.set_nodelay(true);
                // Ends when either side is done (a killed backend resets or closes its end).
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                    tracing::debug!(error = %e, "balancer: connection ended");
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, %addr, "balancer: backend refused; trying the next");
                pool.mark(addr, false);
            }
        }
    }
    pool.refused.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A backend that answers every connection with its own name, then closes.
    async fn named(name: &'static [u8]) -> (SocketAddr, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(name).await;
            }
        });
        (addr, task)
    }

    async fn ask(lb: SocketAddr) -> Vec<u8> {
        let mut s = TcpStream::connect(lb).await.unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        buf
    }

    #[tokio::test]
    async fn round_robin_then_skips_a_dead_backend() {
        let lb = Balancer::start().await.unwrap();
        let (a, _ta) = named(b"a").await;
        let (b, tb) = named(b"b").await;
        lb.add(a);
        lb.add(b);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(ask(lb.addr()).await);
        }
        got.sort();
        assert_eq!(
            got,
            vec![b"a".to_vec(), b"a".to_vec(), b"b".to_vec(), b"b".to_vec()]
        );
        // b dies: its port refuses; every connection now reaches a.
        tb.abort();
        let _ = tb.await;
        for _ in 0..4 {
            assert_eq!(ask(lb.addr()).await, b"a".to_vec());
        }
        assert_eq!(lb.refused(), 0);
        let c = lb.connections();
        assert_eq!(c, vec![6, 2], "{c:?}");
    }
}
