//! Opening one PostgreSQL connection through the counting stream.
//!
//! diesel-async's own `establish` hides the socket, so we connect it ourselves (TCP with
//! `TCP_NODELAY`, or the unix socket), let tokio-postgres speak the protocol over our
//! [`CountingStream`] (through TLS when the URL asks for it: [`crate::tls`]), and hand the
//! client to diesel-async. TLS sits above the counter, so a round-trip is still one flight
//! of bytes out and the answer back, encrypted or not.

use crate::DbError;
use crate::sqlstate::{Seen, SniffTls, Sniffing};
use crate::tls;
use crate::wire::{CountingStream, RawStream, WireStats};
use diesel_async::AsyncPgConnection;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A live connection and its round-trip counter.
pub struct Connected {
    /// The diesel-async connection.
    pub conn: AsyncPgConnection,
    /// Its wire statistics.
    pub wire: Arc<WireStats>,
    /// The SQLSTATEs it received (see [`crate::sqlstate`]).
    pub(crate) seen: Arc<Seen>,
}

/// A parsed `database_url`: where the server is, who we are, and the TLS to speak.
#[derive(Clone)]
pub struct DbTarget {
    pg: tokio_postgres::Config,
    /// `None` for `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
}

impl DbTarget {
    /// The database the URL names.
    pub fn dbname(&self) -> Option<&str> {
        self.pg.get_dbname()
    }

    /// The same server, another database.
    pub fn with_dbname(&self, name: &str) -> DbTarget {
        let mut t = self.clone();
        t.pg.dbname(name);
        t
    }
}

/// Parses a `postgres://` URL (or key=value string) with libpq's TLS parameters
/// (`sslmode`, `sslrootcert`: see [`crate::tls`]) and checks what we support. A root
/// certificate file named in the URL is read here, so a wrong path is a configuration error.
pub fn parse_url(url: &str) -> Result<DbTarget, DbError> {
    let (rest, policy) = tls::split(url)?;
    let mut pg = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| DbError::Config(format!("database_url is not a valid PostgreSQL URL: {e}")))?;
    if pg.get_hosts().is_empty() {
        return Err(DbError::Config("database_url names no host".into()));
    }
    pg.ssl_mode(policy.ssl_mode());
    let tls = policy.connector()?;
    Ok(DbTarget { pg, tls })
}

/// Connects the socket; for TCP also returns the host name (TLS checks the certificate
/// against it).
async fn open_socket(
    cfg: &tokio_postgres::Config,
    timeout: Duration,
) -> Result<(RawStream, Option<String>), DbError> {
    let ports = cfg.get_ports();
    let mut last = String::from("no host to try");
    for (i, host) in cfg.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let attempt = async {
            match host {
                Host::Tcp(name) => {
                    let s = TcpStream::connect((name.as_str(), port)).await?;
                    s.set_nodelay(true)?;
                    Ok::<_, std::io::Error>((RawStream::Tcp(s), Some(name.clone())))
                }
                Host::Unix(dir) => {
                    let path = Path::new(dir).join(format!(".s.PGSQL.{port}"));
                    Ok((RawStream::Unix(UnixStream::connect(path).await?), None))
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
pub async fn connect(target: &DbTarget, timeout: Duration) -> Result<Connected, DbError> {
    let (raw, tcp_host) = open_socket(&target.pg, timeout).await?;
    let (stream, wire) = CountingStream::new(raw);
    let seen = Arc::new(Seen::default());
    let stream = Sniffing::socket(stream, seen.clone());
    let client = match (&target.tls, tcp_host) {
        (Some(tls), Some(host)) => {
            let Ok(tls) = MakeTlsConnect::<Sniffing<CountingStream>>::make_tls_connect(
                &mut tls.clone(),
                &host,
            );
            let tls = SniffTls {
                inner: tls,
                seen: seen.clone(),
            };
            handshake(&target.pg, stream, tls, timeout).await?
        }
        // `disable`, or a unix socket, where PostgreSQL offers no TLS (libpq ignores
        // `sslmode` there too).
        _ => {
            let mut pg = target.pg.clone();
            pg.ssl_mode(SslMode::Disable);
            handshake(&pg, stream, tokio_postgres::NoTls, timeout).await?
        }
    };
    let conn = AsyncPgConnection::try_from(client)
        .await
        .map_err(|e| DbError::Unavailable(format!("setting up the connection: {e}")))?;
    Ok(Connected { conn, wire, seen })
}

/// The PostgreSQL handshake over `stream` (TLS first when `tls` does it); the connection
/// task runs on its own.
async fn handshake<T>(
    pg: &tokio_postgres::Config,
    stream: Sniffing<CountingStream>,
    tls: T,
    timeout: Duration,
) -> Result<tokio_postgres::Client, DbError>
where
    T: TlsConnect<Sniffing<CountingStream>> + Send,
    T::Stream: Send + 'static,
    T::Future: Send,
{
    let (client, connection) = tokio::time::timeout(timeout, pg.connect_raw(stream, tls))
        .await
        .map_err(|_| {
            DbError::Unavailable("PostgreSQL did not finish the handshake in time".into())
        })?
        .map_err(|e| {
            // tokio-postgres prints a server's refusal as just "db error": say what it said.
            let detail = match e.as_db_error() {
                Some(db) => db.to_string(),
                None => e.to_string(),
            };
            let what = if detail.contains("TLS") {
                "TLS with PostgreSQL failed"
            } else {
                "PostgreSQL refused the connection"
            };
            DbError::Unavailable(format!("{what}: {detail}"))
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}
