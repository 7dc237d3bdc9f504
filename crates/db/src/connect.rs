//! Opening one PostgreSQL connection through the counting stream.
//!
//! diesel-async's own `establish` hides the socket, so we connect it ourselves (TCP with
//! `TCP_NODELAY`, or the unix socket), let tokio-postgres speak the protocol over our
//! [`CountingStream`], and hand the client to diesel-async.

use crate::DbError;
use crate::wire::{CountingStream, RawStream, WireStats};
use diesel_async::AsyncPgConnection;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, SslMode};

/// A live connection and its round-trip counter.
pub struct Connected {
    /// The diesel-async connection.
    pub conn: AsyncPgConnection,
    /// Its wire statistics.
    pub wire: Arc<WireStats>,
}

/// Parses a `postgres://` URL (or key=value string) and checks what we support.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, DbError> {
    let cfg = tokio_postgres::Config::from_str(url)
        .map_err(|e| DbError::Config(format!("database_url is not a valid PostgreSQL URL: {e}")))?;
    if cfg.get_ssl_mode() == SslMode::Require {
        return Err(DbError::Config(
            "database_url asks for sslmode=require, which this build does not support yet; \
             reach the database over a private network or a local TLS tunnel"
                .into(),
        ));
    }
    if cfg.get_hosts().is_empty() {
        return Err(DbError::Config("database_url names no host".into()));
    }
    Ok(cfg)
}

async fn open_socket(
    cfg: &tokio_postgres::Config,
    timeout: Duration,
) -> Result<RawStream, DbError> {
    let ports = cfg.get_ports();
    let mut last = String::from("no host to try");
    for (i, host) in cfg.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let attempt = async {
            match host {
                Host::Tcp(name) => {
                    let s = TcpStream::connect((name.as_str(), port)).await?;
                    s.set_nodelay(true)?;
                    Ok::<_, std::io::Error>(RawStream::Tcp(s))
                }
                Host::Unix(dir) => {
                    let path = Path::new(dir).join(format!(".s.PGSQL.{port}"));
                    Ok(RawStream::Unix(UnixStream::connect(path).await?))
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = format!("{}: {e}", describe(host, port)),
            Err(_) => {
                last = format!(
                    "{}: no answer within {} s",
                    describe(host, port),
                    timeout.as_secs()
                )
            }
        }
    }
    Err(DbError::Unavailable(format!(
        "cannot connect to PostgreSQL at {last}"
    )))
}

fn describe(host: &Host, port: u16) -> String {
    match host {
        Host::Tcp(h) => format!("{h}:{port}"),
        Host::Unix(d) => format!("{}/.s.PGSQL.{port}", d.display()),
    }
}

/// Opens one connection, counting its round-trips from the first byte.
pub async fn connect(
    cfg: &tokio_postgres::Config,
    timeout: Duration,
) -> Result<Connected, DbError> {
    let raw = open_socket(cfg, timeout).await?;
    let (stream, wire) = CountingStream::new(raw);
    let handshake = cfg.connect_raw(stream, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| {
            DbError::Unavailable("PostgreSQL did not finish the handshake in time".into())
        })?
        .map_err(|e| DbError::Unavailable(format!("PostgreSQL refused the connection: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    let conn = AsyncPgConnection::try_from(client)
        .await
        .map_err(|e| DbError::Unavailable(format!("setting up the connection: {e}")))?;
    Ok(Connected { conn, wire })
}
