//! A real PostgreSQL for tests.

use sluice_db::{Db, PoolOptions};
use sluice_pgcluster::{Cluster, ClusterOptions, Ownership};
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;
use tokio::sync::OnceCell;

/// A database created for one test.
pub struct TestDb {
    /// Its URL, for components that open their own pool (or a sluice process).
    pub url: String,
    /// A pool on it.
    pub db: Db,
    /// Its name.
    pub name: String,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// URL of the test server's maintenance database (`postgres`).
pub fn server_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return url;
    }
    let cluster = CLUSTER.get_or_init(|| {
        remove_clusters_of_dead_processes();
        let dir = std::env::temp_dir().join(format!("{CLUSTER_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        let mut opts = ClusterOptions::new(dir.join("pg"), Ownership::Exclusive);
        opts.fsync = false;
        Cluster::start(&opts).map_err(|e| e.to_string())
    });
    match cluster {
        Ok(c) => c.url("postgres"),
        Err(e) => {
            panic!("tests need PostgreSQL: set DATABASE_URL or install the server binaries: {e}")
        }
    }
}

/// A test process's private cluster lives in `<tmp>/sluice-testpg-<pid>`.
const CLUSTER_PREFIX: &str = "sluice-testpg-";

/// The cluster is held in a static, which is never dropped: its postmaster dies with the test
/// process (PR_SET_PDEATHSIG), but its directory (100–250 MB) stays. Each test process
/// therefore removes the directories of test processes that no longer exist; a directory
/// whose pid is alive (or reused) is left alone.
fn remove_clusters_of_dead_processes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(CLUSTER_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn with_db_name(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).expect("server URL parses");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

/// A template database with every migration applied, created once per server.
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("sluice_tmpl_{}", std::process::id());
            // A template of this name is a dead process's (pids are reused), possibly of
            // another checkout's migrations on a shared server: never build on it.
            execute_on_server(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            let url = with_db_name(&server_url(), &name);
            sluice_db::ensure_database(&url)
                .await
                .expect("create template database");
            sluice_db::run_migrations(&url)
                .await
                .expect("migrate template database");
            name
        })
        .await
}

/// Runs one statement on the test server's maintenance database.
async fn execute_on_server(stmt: String) {
    let admin_db = Db::connect(
        &server_url(),
        PoolOptions {
            max_size: 1,
            ..PoolOptions::default()
        },
    )
    .await
    .expect("connect to the test server");
    admin_db
        .run("test_server_statement", move |c| {
            Box::pin(async move {
                use sluice_db::diesel_async::SimpleAsyncConnection;
                c.batch_execute(&stmt).await
            })
        })
        .await
        .unwrap_or_else(|e| panic!("test server statement failed: {e}"));
}

/// A fresh database with the schema applied, cloned from the template.
pub async fn test_db() -> TestDb {
    let template = template().await;
    let name = format!("t_{}_{:08x}", std::process::id(), rand::random::<u32>());
    execute_on_server(format!(
        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
    ))
    .await;
    let url = with_db_name(&server_url(), &name);
    let db = Db::connect(&url, PoolOptions::default())
        .await
        .expect("connect to test database");
    TestDb { url, db, name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_clusters_of_dead_processes_are_removed() {
        let tmp = std::env::temp_dir();
        // Above the kernel's largest pid_max (2^22): no such process can exist.
        let dead = tmp.join(format!("{CLUSTER_PREFIX}{}", (1u32 << 22) + 17));
        // pid 1 always exists.
        let alive = tmp.join(format!("{CLUSTER_PREFIX}1"));
        for d in [&dead, &alive] {
            std::fs::create_dir_all(d.join("pg")).unwrap();
        }
        remove_clusters_of_dead_processes();
        assert!(!dead.exists(), "a dead process's cluster is removed");
        assert!(alive.exists(), "a live process's cluster is kept");
        std::fs::remove_dir_all(&alive).unwrap();
    }
}
