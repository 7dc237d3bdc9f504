//! The system under test: a PostgreSQL, the latency proxy in front of it, and a sluice.
//!
//! By default everything is the benchmark's own: a private PostgreSQL cluster (durable:
//! fsync on, as in production; `pg_stat_statements` preloaded for the cross-check), and per
//! scenario a fresh database, a [`LatencyProxy`] with the scenario's one-way delay, and a
//! fresh release `sluice serve` whose `database_url` points at the proxy. The benchmark's
//! own queries (journal, tables, statement counts) go to PostgreSQL directly, not through
//! the proxy, so they neither wait for the delay nor count as sluice's round-trips.
//!
//! Pointed at an existing server instead (`--database-url`), it creates its databases there;
//! pointed at a running sluice too (`--sluice`), it only sends and observes.

use crate::balancer::Balancer;
use crate::error::setup;
use crate::proxy::{LatencyProxy, Target};
use crate::{BenchError, Result};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use futures::FutureExt;
use sluice_db::{Db, PoolOptions};
use sluice_pgcluster::{Cluster, ClusterOptions, Ownership};
use sluice_testkit::{Sluice, SluiceOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// Where the database and sluice come from.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// The `sluice` binary to run.
    pub sluice_bin: PathBuf,
    /// An existing PostgreSQL server (URL of any database on it); `None`: our own cluster.
    pub database_url: Option<String>,
    /// A running sluice (`http://HOST:PORT`) on `database_url`'s database; `None`: start one
    /// per scenario.
    pub sluice_url: Option<String>,
    /// That sluice's process id (for CPU and RSS).
    pub sluice_pid: Option<i32>,
    /// Extra `SLUICE_*` settings for the sluice we start.
    pub sluice_env: Vec<(String, String)>,
}

/// The PostgreSQL server the scenarios use.
pub struct Server {
    cluster: Option<Cluster>,
    _dir: Option<tempfile::TempDir>,
    /// URL of the server's `postgres` database (direct).
    admin_url: String,
    /// Where the proxy forwards to.
    target: Target,
    /// `SHOW server_version`.
    pub version: String,
    /// `pg_stat_statements` is loaded.
    pub pgss: bool,
    /// `SHOW fsync`.
    pub fsync: bool,
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Text)]
    v: String,
}

async fn show(db: &Db, setting: &'static str) -> Result<String> {
    let sql = format!("SELECT current_setting('{setting}') AS v");
    Ok(db
        .run("bench_show", move |c| {
            async move {
                diesel::sql_query(sql)
                    .get_result::<One>(c)
                    .await
                    .map(|r| r.v)
            }
            .boxed()
        })
        .await?)
}

/// `url` with database `name`.
fn with_db(url: &str, name: &str) -> Result<String> {
    let mut u = url::Url::parse(url).map_err(|e| setup(format!("database URL {url}: {e}")))?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

impl Server {
    /// Our own cluster (durable, `pg_stat_statements` preloaded), or the server at `url`.
    pub async fn start(url: Option<&str>) -> Result<Server> {
        let (cluster, dir, admin_url, target) = match url {
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("sluice-bench-pg")
                    .tempdir_in("/tmp")?;
                // Traversable: as root the cluster runs as the `postgres` user.
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
                let mut opts = ClusterOptions::new(dir.path().join("pg"), Ownership::Exclusive);
                opts.settings = vec![
                    (
                        "shared_preload_libraries".into(),
                        "pg_stat_statements".into(),
                    ),
                    ("max_connections".into(), "200".into()),
                ];
                let cluster = tokio::task::block_in_place(|| Cluster::start(&opts))?;
                let admin = cluster.url("postgres");
                let target = Target::Unix(cluster.socket_path());
                (Some(cluster), Some(dir), admin, target)
            }
            Some(url) => {
                let u = url::Url::parse(url).map_err(|e| setup(format!("{url}: {e}")))?;
                let socket_dir = u
                    .query_pairs()
                    .find(|(k, _)| k == "host")
                    .map(|(_, v)| v.to_string());
                let port = u.port().unwrap_or(5432);
                let target = match socket_dir {
                    Some(dir) => Target::Unix(PathBuf::from(dir).join(format!(".s.PGSQL.{port}"))),
                    None => {
                        let host = u.host_str().unwrap_or("127.0.0.1");
                        let addr = tokio::net::lookup_host((host, port))
                            .await?
                            .next()
                            .ok_or_else(|| setup(format!("{host} does not resolve")))?;
                        Target::Tcp(addr)
                    }
                };
                (None, None, with_db(url, "postgres")?, target)
            }
        };
        let db = Db::connect(&admin_url, small_pool()).await?;
        let version = show(&db, "server_version").await?;
        let fsync = show(&db, "fsync").await? == "on";
        let pgss = show(&db, "shared_preload_libraries")
            .await?
            .contains("pg_stat_statements");
        Ok(Server {
            cluster,
            _dir: dir,
            admin_url,
            target,
            version,
            pgss,
            fsync,
        })
    }

    /// The postmaster's pid, when it is ours (for PostgreSQL's CPU time).
    pub fn postmaster_pid(&self) -> Option<i32> {
        self.cluster.as_ref().and_then(Cluster::pid)
    }

    /// A fresh, migrated database `name` (dropped first if it exists); its direct URL.
    pub async fn fresh_database(&self, name: &str) -> Result<String> {
        let admin = Db::connect(&self.admin_url, small_pool()).await?;
        let ddl =
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE); CREATE DATABASE \"{name}\"");
        admin
            .run("bench_create_db", move |c| {
                async move {
                    // Two statements, one simple-protocol batch: CREATE DATABASE cannot be
                    // in a transaction block, and a batch is one only with BEGIN.
                    for stmt in ddl.split("; ") {
                        c.batch_execute(stmt).await?;
                    }
                    Ok(())
                }
                .boxed()
            })
            .await?;
        let url = with_db(&self.admin_url, name)?;
        sluice_db::run_migrations(&url).await?;
        if self.pgss {
            let db = Db::connect(&url, small_pool()).await?;
            db.run("bench_pgss", |c| {
                async move {
                    c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                        .await
                }
                .boxed()
            })
            .await?;
        }
        Ok(url)
    }

    /// A proxy to this server with `one_way` delay each direction.
    pub async fn proxy(&self, one_way: Duration) -> Result<LatencyProxy> {
        Ok(LatencyProxy::start(self.target.clone(), one_way).await?)
    }
}

fn small_pool() -> PoolOptions {
    PoolOptions {
        max_size: 2,
        ..PoolOptions::default()
    }
}

/// One scenario's sluice and the benchmark's direct line to its database.
pub struct Deployed {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its process (CPU, RSS), when known.
    pub pid: Option<i32>,
    /// Its database, directly (not through the proxy).
    pub db: Db,
    /// The receiver's community for follows (`<base>/c/bench`), when there is one.
    pub local_community: Option<String>,
    /// The bearer token of sluice's local APIs (the publish API), when we set it.
    pub publish_token: Option<String>,
    /// The processes we started (one, or several behind `balancer`).
    pub(crate) sluices: Vec<Sluice>,
    pub(crate) _proxy: Option<LatencyProxy>,
    /// In front of several processes (`crate::scaleout`).
    pub(crate) balancer: Option<Balancer>,
}

/// The publish API's token for the sluice we start.
pub(crate) const PUBLISH_TOKEN: &str = "sluice-bench-token";

/// The database URL sluice is given: `url`'s database, through `proxy`, over TCP.
pub(crate) fn proxied_url(url: &str, proxy: &LatencyProxy) -> Result<String> {
    let mut proxied = url::Url::parse(url).map_err(setup)?;
    proxied.set_query(None);
    proxied
        .set_host(Some("127.0.0.1"))
        .map_err(|e| setup(format!("proxy URL: {e}")))?;
    proxied
        .set_port(Some(proxy.addr().port()))
        .map_err(|_| setup("proxy URL: port"))?;
    Ok(proxied.to_string())
}

/// The settings of every sluice the benchmark starts, then the user's, then the scenario's.
pub(crate) fn sluice_env(
    opts: &StackOptions,
    extra_env: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        // See docs/benchmarks.md: the receiving instance keeps what its communities'
        // announces carry, as if its users followed them.
        ("SLUICE_PIPELINE_KEEP_ALL_ANNOUNCED".into(), "true".into()),
        ("SLUICE_PUBLISH_TOKEN".into(), PUBLISH_TOKEN.into()),
    ];
    env.extend(opts.sluice_env.iter().cloned());
    env.extend(extra_env.iter().cloned());
    env
}

/// `sluice community create bench` with `sluice`'s settings.
pub(crate) fn create_community(sluice: &Sluice) -> Result<()> {
    let out = sluice.admin(&["community", "create", "bench"]);
    if !out.status.success() {
        return Err(setup(format!(
            "sluice community create: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

impl Deployed {
    /// Starts a fresh sluice on a fresh database `name` behind a proxy with `one_way`
    /// delay, with a local community `bench`; or attaches to the configured running one.
    pub async fn start(
        opts: &StackOptions,
        server: &Server,
        name: &str,
        one_way: Duration,
        extra_env: &[(String, String)],
    ) -> Result<Deployed> {
        if let (Some(base), Some(url)) = (&opts.sluice_url, &opts.database_url) {
            let db = Db::connect(url, PoolOptions::default()).await?;
            return Ok(Deployed {
                base: base.trim_end_matches('/').to_string(),
                pid: opts.sluice_pid,
                db,
                local_community: None,
                publish_token: None,
                sluices: Vec::new(),
                _proxy: None,
                balancer: None,
            });
        }
        let url = server.fresh_database(name).await?;
        let proxy = server.proxy(one_way).await?;
        let sluice = Sluice::start(
            &opts.sluice_bin,
            SluiceOptions {
                database_url: Some(proxied_url(&url, &proxy)?),
                env: sluice_env(opts, extra_env),
                log: Some("warn".into()),
                ..SluiceOptions::default()
            },
        )
        .await;
        create_community(&sluice)?;
        let base = sluice.base.clone();
        wait_for_inbox(&base, "/c/bench/inbox").await?;
        let db = Db::connect(&url, PoolOptions::default()).await?;
        Ok(Deployed {
            local_community: Some(format!("{base}/c/bench")),
            base,
            pid: Some(sluice.pid() as i32),
            db,
            publish_token: Some(PUBLISH_TOKEN.into()),
            sluices: vec![sluice],
            _proxy: Some(proxy),
            balancer: None,
        })
    }

    /// Stops the sluices we started (SIGTERM, waits), so the next scenario has the machine.
    pub fn stop(&mut self) {
        for mut s in self.sluices.drain(..) {
            s.stop();
        }
    }

    /// sluice's log so far (for errors), every process's in turn.
    pub fn log(&self) -> String {
        self.sluices
            .iter()
            .map(Sluice::log_text)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Waits until sluice knows the inbox (local actor names are refreshed off the request
/// path, up to `inbox_refresh_ms` after the actor is created).
pub(crate) async fn wait_for_inbox(base: &str, path: &str) -> Result<()> {
    let client = crate::send::client();
    for _ in 0..200 {
        let r = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/activity+json")
            .body("{}")
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(BenchError::Setup(format!("{base}{path} stays 404")))
}
