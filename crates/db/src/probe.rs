//! The database side of `sluice doctor`: what the server is, and the three operations it
//! times (a ping, a durable commit, the server's settings). Each is one named operation on
//! a connection the caller holds, so the wire counter says how many round-trips it cost.

use crate::{Conn, DbError};
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use futures::FutureExt;

/// What the server says about itself.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct ServerInfo {
    /// `server_version`, e.g. `15.8 (Debian 15.8-0+deb12u1)`.
    #[diesel(sql_type = Text)]
    pub version: String,
    /// `server_version_num`, e.g. 150008.
    #[diesel(sql_type = Integer)]
    pub version_num: i32,
    /// `fsync`: `on` or `off`.
    #[diesel(sql_type = Text)]
    pub fsync: String,
    /// `synchronous_commit`: `on`, `remote_apply`, `remote_write`, `local` or `off`.
    #[diesel(sql_type = Text)]
    pub synchronous_commit: String,
    /// The address the server took this connection on; `None` over a unix socket.
    #[diesel(sql_type = Nullable<Text>)]
    pub server_addr: Option<String>,
    /// This connection is encrypted (`pg_stat_ssl`).
    #[diesel(sql_type = Bool)]
    pub ssl: bool,
    /// Its TLS version, e.g. `TLSv1.3`, when encrypted.
    #[diesel(sql_type = Nullable<Text>)]
    pub tls_version: Option<String>,
}

/// The server's version, its durability settings and how this connection reaches it (one
/// round-trip).
pub async fn server_info(conn: &mut Conn) -> Result<ServerInfo, DbError> {
    conn.run("doctor_server_info", |c| {
        crate::sql(
            "SELECT current_setting('server_version') AS version, \
                    current_setting('server_version_num')::int AS version_num, \
                    current_setting('fsync') AS fsync, \
                    current_setting('synchronous_commit') AS synchronous_commit, \
                    host(inet_server_addr()) AS server_addr, \
                    coalesce(s.ssl, false) AS ssl, s.version AS tls_version \
             FROM (SELECT 1) AS one \
             LEFT JOIN pg_stat_ssl s ON s.pid = pg_backend_pid()",
        )
        .get_result(c)
        .boxed()
    })
    .await
}

#[derive(diesel::QueryableByName)]
struct One {
    #[diesel(sql_type = Integer)]
    #[allow(dead_code)]
    one: i32,
}

/// The cheapest statement there is: one round-trip once the statement is prepared (the
/// first call on a connection also prepares it: call once to warm up before timing).
pub async fn ping(conn: &mut Conn) -> Result<(), DbError> {
    conn.run("doctor_ping", |c| {
        crate::sql("SELECT 1 AS one")
            .get_result::<One>(c)
            .map(|r| r.map(drop))
            .boxed()
    })
    .await
}

/// Rewrites the `doctor_probe` row in a transaction: `BEGIN` and the write in one flight,
/// `COMMIT` in a second, which waits for the WAL flush (unless `synchronous_commit` is
/// off). Two round-trips plus the flush.
pub async fn commit_probe(conn: &mut Conn) -> Result<(), DbError> {
    conn.run_tx("doctor_commit_probe", |c| {
        async move {
            let mut c = c;
            crate::sql(
                "INSERT INTO doctor_probe (id, probed_at) VALUES (1, now()) \
                 ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
            )
            .execute(&mut c)
            .await
            .map(drop)
        }
        .boxed()
    })
    .await
}
