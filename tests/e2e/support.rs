//! Helpers shared by the end-to-end modules.

use futures::FutureExt;
use sluice_db::diesel;
use sluice_testkit::{Sluice, SluiceOptions, TestDb, test_db};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// sluice on a fresh test database.
pub async fn sluice_on_test_db(extra_env: &[(&str, &str)]) -> (Sluice, TestDb) {
    let t = test_db().await;
    let s = Sluice::start(
        BIN,
        SluiceOptions {
            database_url: Some(t.url.clone()),
            env: env_pairs(extra_env),
            ..Default::default()
        },
    )
    .await;
    (s, t)
}

/// A second process of `first`'s instance (its `SLUICE_DOMAIN`, so it mints the same ids) on
/// the same database, with `env`.
pub async fn second_process(first: &Sluice, t: &TestDb, env: &[(&str, &str)]) -> Sluice {
    let mut env = env_pairs(env);
    env.push(("SLUICE_DOMAIN".into(), format!("127.0.0.1:{}", first.port)));
    Sluice::start(
        BIN,
        SluiceOptions {
            database_url: Some(t.url.clone()),
            env,
            ..Default::default()
        },
    )
    .await
}

/// Runs `sluice ARGS` against `s` (its database and settings); asserts it succeeded and
/// returns what it printed.
pub fn admin_ok(s: &Sluice, args: &[&str]) -> String {
    let out = s.admin(args);
    assert!(
        out.status.success(),
        "sluice {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Creates the local user `name` with `sluice user create`; returns its id.
pub fn create_user(s: &Sluice, name: &str) -> String {
    admin_ok(s, &["user", "create", name]);
    format!("{}/u/{name}", s.base)
}

/// Runs one SQL statement (test setup).
pub async fn exec(db: &sluice_db::Db, sql: String) {
    use sluice_db::diesel_async::RunQueryDsl;
    db.run("e2e_exec", move |c| {
        sluice_db::diesel::sql_query(sql)
            .execute(c)
            .map(|r| r.map(|_| ()))
            .boxed()
    })
    .await
    .unwrap();
}

/// Process ids of `postgres` processes whose command line mentions `needle`.
pub fn postgres_processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        if comm.trim() == "postgres" && cmdline.contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// The `/metrics` body of the sluice at `base`.
pub async fn metrics(base: &str) -> String {
    sluice_testkit::http_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the /metrics body")
}

/// Sum of every sample of `metric` in a Prometheus text body.
pub fn metric_sum(body: &str, metric: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `sluice ARGS` with exactly `env` (plus `PATH`), without blocking the runtime (tests
/// may serve things the command talks to, such as a latency proxy).
pub async fn run_sluice(env: &[(String, String)], args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SLUICE_LOG", "warn")
        .envs(env.iter().cloned())
        .args(args)
        .output()
        .await
        .expect("run sluice")
}

/// `(key, value)` pairs as owned strings.
pub fn env_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A plugins directory under `dir` holding copies of the shipped `examples` (names without
/// `.rhai`) and the `scripts` given as `(name, source)`.
pub fn plugins_dir(
    dir: &std::path::Path,
    examples: &[&str],
    scripts: &[(&str, &str)],
) -> std::path::PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    for name in examples {
        let shipped = format!(
            "{}/../../plugins/examples/{name}.rhai",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::copy(shipped, plugins.join(format!("{name}.rhai"))).unwrap();
    }
    for (name, source) in scripts {
        std::fs::write(plugins.join(format!("{name}.rhai")), source).unwrap();
    }
    plugins
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// One text column of the rows `sql` selects (as `v`).
pub async fn texts(db: &sluice_db::Db, sql: String) -> Vec<String> {
    use sluice_db::diesel_async::RunQueryDsl;
    db.run("e2e_texts", move |c| {
        diesel::sql_query(sql).load::<TextRow>(c).boxed()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|t| t.v)
    .collect()
}

/// `state rc` of a journal row once the pipeline is done with it (at most 30 s).
pub async fn journal_end(db: &sluice_db::Db, activity_id: &str) -> String {
    let sql = format!(
        "SELECT state || ' ' || coalesce(error_code, '-') AS v FROM received_activity \
         WHERE activity_id = '{activity_id}'"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = texts(db, sql.clone()).await;
        if let Some(v) = <[String]>::first(&got)
            && !v.starts_with("pending")
        {
            return v.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{activity_id}: still {got:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
