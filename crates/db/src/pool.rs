//! The pool and the one instrumented path every query takes.
//!
//! - **Zero-cost checkout.** diesel-async's default recycling (`Verified`) runs `SELECT 1`
//!   on every checkout, which alone doubled Lemmy 0.19.3's round-trips. Our manager
//!   recycles with local checks only (is the socket closed? was a transaction left open?).
//!   A connection that died while idle then fails on first use; that error is classified
//!   transient ([`DbError::classify`]), the caller answers 503 or retries, and the dead
//!   connection is dropped.
//! - **One path.** [`Conn::run`] names every operation, counts the round-trips it caused
//!   on the wire (see [`crate::wire`]), times it, and adds both to the task's spend
//!   (`sluice_metrics::spend`): callers count nothing themselves.

use crate::DbError;
use crate::connect::{Connected, connect};
use crate::sqlstate::Seen;
use crate::wire::{Cork, WireStats};
use deadpool::managed::{self, Metrics as PoolMetrics, RecycleError, RecycleResult};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use futures::future::BoxFuture;
use sluice_metrics::{global, spend};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A pooled connection, with what its wire saw.
pub struct PgConn {
    conn: AsyncPgConnection,
    wire: Arc<WireStats>,
    /// The SQLSTATEs the server sent since the current operation began.
    seen: Arc<Seen>,
    /// Set while a raw (pipelined) transaction is open; a connection dropped in that state
    /// is not reused.
    in_tx: bool,
    /// Its last operation failed with the database's trouble (it may be dead without
    /// knowing it yet): not reused.
    troubled: bool,
}

struct Manager {
    cfg: crate::connect::DbTarget,
    connect_timeout: Duration,
}

impl managed::Manager for Manager {
    type Type = PgConn;
    type Error = DbError;

    async fn create(&self) -> Result<PgConn, DbError> {
        // On a task of its own: the handshake (TLS, the protocol reader) is a deep future,
        // and it should not stack onto whatever deep caller first needed a connection.
        let (cfg, timeout) = (self.cfg.clone(), self.connect_timeout);
        let Connected { conn, wire, seen } =
            tokio::spawn(async move { connect(&cfg, timeout).await })
                .await
                .map_err(|e| DbError::Unavailable(format!("connecting: {e}")))??;
        global()
            .db_roundtrips_total
            .with_label_values(&["connect"])
            .inc_by(wire.roundtrips());
        Ok(PgConn {
            conn,
            wire,
            seen,
            in_tx: false,
            troubled: false,
        })
    }

    async fn recycle(&self, obj: &mut PgConn, _: &PoolMetrics) -> RecycleResult<DbError> {
        use diesel_async::pooled_connection::PoolableConnection;
        if obj.in_tx || obj.troubled || obj.conn.is_broken() {
            return Err(RecycleError::message(
                "connection closed or left in a transaction",
            ));
        }
        Ok(())
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections held at once.
    pub max_size: usize,
    /// Longest wait for a free connection before answering "unavailable".
    pub checkout_timeout: Duration,
    /// Longest wait for a new connection (TCP/socket connect and handshake).
    pub connect_timeout: Duration,
    /// Upper bound on one instrumented operation; beyond it the connection is discarded.
    pub op_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 16,
            checkout_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            op_timeout: Duration::from_secs(30),
        }
    }
}

/// Handle to the database: cheap to clone, shared by every component.
#[derive(Clone)]
pub struct Db {
    pool: managed::Pool<Manager>,
    shared: Arc<Shared>,
}

struct Shared {
    roundtrips: AtomicU64,
    opts: PoolOptions,
}

/// A snapshot of pool occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Configured maximum.
    pub max_size: usize,
    /// Connections held.
    pub size: usize,
    /// Idle connections.
    pub idle: usize,
    /// Tasks waiting for a connection.
    pub waiting: usize,
}

impl Db {
    /// Builds the pool and opens one connection to prove the database answers.
    pub async fn connect(url: &str, opts: PoolOptions) -> Result<Db, DbError> {
        let cfg = crate::connect::parse_url(url)?;
        let manager = Manager {
            cfg,
            connect_timeout: opts.connect_timeout,
        };
        let pool = managed::Pool::builder(manager)
            .max_size(opts.max_size)
            .wait_timeout(Some(opts.checkout_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(Duration::from_secs(1)))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Config(e.to_string()))?;
        let db = Db {
            pool,
            shared: Arc::new(Shared {
                roundtrips: AtomicU64::new(0),
                opts,
            }),
        };
        drop(db.get().await?);
        Ok(db)
    }

    /// Checks a connection out (no database round-trip), timing the wait.
    pub async fn get(&self) -> Result<Conn, DbError> {
        let start = Instant::now();
        let obj = self.pool.get().await.map_err(|e| match e {
            managed::PoolError::Backend(e) => e,
            managed::PoolError::Timeout(_) => DbError::Unavailable(
                "no database connection free within the checkout timeout".into(),
            ),
            other => DbError::Unavailable(other.to_string()),
        })?;
        global()
            .db_pool_checkout_seconds
            .observe(start.elapsed().as_secs_f64());
        Ok(Conn {
            obj,
            db: self.clone(),
        })
    }

    /// Checks a connection out and runs one named operation on it.
    pub async fn run<T, F>(&self, name: &'static str, f: F) -> Result<T, DbError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<T>>
            + Send,
    {
        self.get().await?.run(name, f).await
    }

    /// Round-trips caused by operations on this pool so far (connection setup excluded).
    pub fn roundtrips(&self) -> u64 {
        self.shared.roundtrips.load(Ordering::Relaxed)
    }

    /// Pool occupancy now.
    pub fn status(&self) -> PoolStatus {
        let s = self.pool.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            idle: s.available,
            waiting: s.waiting,
        }
    }

    /// Copies pool occupancy into the exported gauges (called when `/metrics` is scraped).
    pub fn export_pool_metrics(&self) {
        let s = self.status();
        let m = global();
        m.db_pool_connections.set(s.size as i64);
        m.db_pool_idle.set(s.idle as i64);
        m.db_pool_in_use.set(s.size.saturating_sub(s.idle) as i64);
        m.db_pool_waiters.set(s.waiting as i64);
        m.db_pool_max_connections.set(s.max_size as i64);
    }
}

/// An operation's future, polled with its connection corked: whatever statements one poll
/// queues leave the socket together (see [`crate::wire`]).
struct Corked<'w, F> {
    wire: &'w WireStats,
    fut: F,
}

impl<'w, F> Corked<'w, F> {
    fn new(wire: &'w WireStats, fut: F) -> Self {
        Corked { wire, fut }
    }
}

impl<F: Future + Unpin> Future for Corked<'_, F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let _cork = Cork::new(self.wire);
        std::pin::Pin::new(&mut self.fut).poll(cx)
    }
}

/// A checked-out connection.
pub struct Conn {
    obj: managed::Object<Manager>,
    db: Db,
}

impl Conn {
    /// Runs one named operation. Everything `f` sends, pipelined or not, is counted as this
    /// operation's round-trips.
    pub async fn run<T, F>(&mut self, name: &'static str, f: F) -> Result<T, DbError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<T>>
            + Send,
    {
        let op_timeout = self.db.shared.opts.op_timeout;
        let pg: &mut PgConn = &mut self.obj;
        let before = pg.wire.roundtrips();
        let start = Instant::now();
        pg.in_tx = true; // until we know the operation finished cleanly
        pg.seen.take();
        let wire = pg.wire.clone();
        let r = tokio::time::timeout(op_timeout, Corked::new(&wire, f(&mut pg.conn))).await;
        let r = match r {
            Ok(r) => {
                pg.in_tx = false;
                r.map_err(|e| DbError::classify(e, pg.seen.take()))
            }
            Err(_) => Err(DbError::Unavailable(format!(
                "{name} took longer than {} s",
                op_timeout.as_secs()
            ))),
        };
        pg.troubled = matches!(&r, Err(e) if e.is_transient());
        self.record(name, before, start, r.as_ref().err());
        r
    }

    /// Runs `f` in a transaction in two round-trips: `BEGIN` leaves in the same flight as
    /// every statement `f` sends (so `f` must send them concurrently, e.g. with
    /// `try_join_all`, and resolve references between them in SQL, by `ap_id`), then
    /// `COMMIT` (or `ROLLBACK` if anything failed) once all have answered.
    pub async fn run_tx<T, F>(&mut self, name: &'static str, f: F) -> Result<T, DbError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c AsyncPgConnection) -> BoxFuture<'c, diesel::QueryResult<T>> + Send,
    {
        let op_timeout = self.db.shared.opts.op_timeout;
        let pg: &mut PgConn = &mut self.obj;
        let before = pg.wire.roundtrips();
        let start = Instant::now();
        pg.in_tx = true;
        pg.seen.take();
        let work = async {
            let c: &AsyncPgConnection = &pg.conn;
            // `join!` polls BEGIN first, so it is queued ahead of every statement of `f`.
            let mut begin_conn = c;
            let (begun, body) = futures::join!(begin_conn.batch_execute("BEGIN"), f(c));
            match (begun, body) {
                (Ok(()), Ok(v)) => begin_conn.batch_execute("COMMIT").await.map(|_| v),
                (b, r) => {
                    begin_conn.batch_execute("ROLLBACK").await?;
                    Err(b
                        .err()
                        .or(r.err())
                        .unwrap_or(diesel::result::Error::RollbackTransaction))
                }
            }
        };
        let wire = pg.wire.clone();
        let r = match tokio::time::timeout(op_timeout, Corked::new(&wire, Box::pin(work))).await {
            Ok(Ok(v)) => {
                pg.in_tx = false;
                Ok(v)
            }
            Ok(Err(e)) => {
                pg.in_tx = false;
                Err(DbError::classify(e, pg.seen.take()))
            }
            Err(_) => Err(DbError::Unavailable(format!(
                "{name} took longer than {} s",
                op_timeout.as_secs()
            ))),
        };
        pg.troubled = matches!(&r, Err(e) if e.is_transient());
        self.record(name, before, start, r.as_ref().err());
        r
    }

    fn record(&self, name: &'static str, before: u64, start: Instant, err: Option<&DbError>) {
        let elapsed = start.elapsed();
        let trips = self.obj.wire.roundtrips().saturating_sub(before);
        self.db
            .shared
            .roundtrips
            .fetch_add(trips, Ordering::Relaxed);
        let m = global();
        m.db_roundtrips_total
            .with_label_values(&[name])
            .inc_by(trips);
        m.db_query_duration_seconds
            .with_label_values(&[name])
            .observe(elapsed.as_secs_f64());
        if let Some(e) = err {
            m.db_errors_total
                .with_label_values(&[name, e.class()])
                .inc();
        }
        spend::add_db(elapsed);
        spend::add_roundtrips(trips as f64);
    }

    /// Round-trips on this connection so far (including its setup): for tests and probes
    /// that count one connection's flights; work in a measured task reads its spend.
    pub fn wire_roundtrips(&self) -> u64 {
        self.obj.wire.roundtrips()
    }
}
