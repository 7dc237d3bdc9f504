//! The deploy kit's Prometheus files are valid, and a real Prometheus scrapes a
//! running sluice and answers PromQL about it.
//!
//! Needs Debian's `prometheus` package (`prometheus` and `promtool`); .ci/run installs it.
//! When it is missing these tests fail and say so: a skipped check is a check nobody runs.

use crate::support::{metrics, sluice_on_test_db};
use serde_json::Value;
use sluice_testkit::{free_port, http_client};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The histogram the end-to-end query asks about: the inbox acknowledgement latency, which
/// the test drives with signed deliveries.
const QUERIED_HISTOGRAM: &str = "sluice_inbox_ack_seconds";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The path of a Prometheus tool, or a failure that says how to get it.
fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` not found: install Debian's `prometheus` package \
             (apt-get install prometheus); .ci/run installs it when missing"
        )
    })
}

fn promtool(args: &[&str], dir: &Path) {
    let out = Command::new(tool("promtool"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_configs_and_the_alert_rules_pass_their_tests() {
    let prom = repo().join("deploy/prometheus");
    promtool(&["check", "config", "prometheus.yml"], &prom);
    promtool(&["check", "rules", "alerts.yml"], &prom);
    promtool(&["test", "rules", "alerts.test.yml"], &prom);
    promtool(
        &["check", "config", "prometheus.yml"],
        &repo().join("docker"),
    );
}

/// A Prometheus process on 127.0.0.1 with its own storage; killed on drop.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rules = repo().join("deploy/prometheus/alerts.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n",
            rules.canonicalize().unwrap().display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Polls `GET /api/v1/<path>` until `accept` returns a value from its `data`.
    async fn until<T>(&mut self, path: &str, accept: impl Fn(&Value) -> Option<T>) -> T {
        let client = http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        loop {
            if let Ok(r) = client
                .get(format!("{}/api/v1/{path}", self.base))
                .send()
                .await
                && let Ok(v) = r.json::<Value>().await
            {
                if v["status"] == "success"
                    && let Some(t) = accept(&v["data"])
                {
                    return t;
                }
                last = v.to_string();
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("prometheus exited ({st}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no answer to {path} in time; last: {last}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn first_value(data: &Value) -> Option<f64> {
    data["result"].as_array()?.first()?["value"][1]
        .as_str()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_sluice_and_answers_promql() {
    let (s, t) = sluice_on_test_db(&[]).await;
    let signer = crate::inbox::known_signer(&t).await;
    for n in 0..3 {
        let (status, _) =
            crate::inbox::deliver(&s.base, &signer, &crate::inbox::like(9000 + n)).await;
        assert_eq!(status, 202);
    }

    // What /metrics exposes is registered, with the registered type (and so documented:
    // crates/metrics/tests/metrics/metrics_doc.rs keeps the registry and docs/metrics.md equal).
    let body = metrics(&s.base).await;
    let catalog = sluice_metrics::global().catalog();
    let docs = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let mut families = 0;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let f = catalog
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("/metrics exposes unregistered {name}"));
            assert_eq!(f.kind, kind, "{name}");
            assert!(
                docs.contains(&format!("| `{name}` | {kind} |")),
                "{name} ({kind}) is not in docs/metrics.md"
            );
            families += 1;
        }
    }
    assert!(families >= 5, "{body}");

    let mut prom = Prometheus::start(s.port);
    let up = prom
        .until("query?query=up%7Bjob%3D%22sluice%22%7D", first_value)
        .await;
    assert_eq!(up, 1.0, "the target is up");

    let query = format!("histogram_quantile(0.99, sum by (le) ({QUERIED_HISTOGRAM}_bucket))");
    let path = format!(
        "query?query={}",
        url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    let p99 = prom.until(&path, first_value).await;
    assert!(p99.is_finite() && p99 > 0.0, "{query} = {p99}");

    // The shipped alert rules load in a real Prometheus, not only in promtool.
    let rules = prom
        .until("rules", |d| {
            let groups = d["groups"].as_array()?;
            let g = groups.iter().find(|g| g["name"] == "sluice")?;
            Some(g["rules"].as_array()?.len())
        })
        .await;
    assert!(rules >= 8, "{rules} rules loaded");
}

#[test]
fn the_compose_setup_mounts_files_that_exist() {
    // No Docker engine on the build machines: check what can be checked without one. Every
    // bind mount and the Dockerfile the compose file names must exist in the repository.
    let docker = repo().join("docker");
    let compose = std::fs::read_to_string(docker.join("compose.yaml")).unwrap();
    let mut mounts = 0;
    for line in compose.lines() {
        let item = line.trim().trim_start_matches("- ").trim_matches('"');
        if (item.starts_with("./") || item.starts_with("../")) && item.contains(':') {
            let source = item.split(':').next().unwrap();
            assert!(
                docker.join(source).exists(),
                "compose.yaml mounts missing {source}"
            );
            mounts += 1;
        }
    }
    assert!(mounts >= 4, "the scan found the mounts ({mounts})");
    assert!(compose.contains("dockerfile: docker/Dockerfile"));
    assert!(repo().join("docker/Dockerfile").is_file());
    for f in ["datasources/prometheus.yml", "dashboards/sluice.yml"] {
        assert!(docker.join("grafana/provisioning").join(f).is_file(), "{f}");
    }
}
