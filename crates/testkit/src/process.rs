//! The real `sluice` binary, started as a child process.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// An HTTP client for tests (installs the TLS provider reqwest needs first).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// How to start sluice.
#[derive(Debug, Clone, Default)]
pub struct SluiceOptions {
    /// `SLUICE_DATABASE_URL`; `None` for the embedded cluster.
    pub database_url: Option<String>,
    /// Extra `SLUICE_*` (or other) environment variables.
    pub env: Vec<(String, String)>,
    /// Reuse this data dir (to restart on the same embedded cluster).
    pub data_dir: Option<PathBuf>,
    /// Reuse this port.
    pub port: Option<u16>,
    /// `SLUICE_LOG` (default `info,sluice=debug`; benchmarks want less).
    pub log: Option<String>,
}

/// A running sluice.
pub struct Sluice {
    bin: PathBuf,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its port.
    pub port: u16,
    /// Its data dir (kept alive by `_tmp`).
    pub data_dir: PathBuf,
    /// Environment it runs with (for admin commands against the same setup).
    pub env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
    log: PathBuf,
    log_filter: String,
}

impl Sluice {
    /// Starts `bin serve` and waits until `/readyz` answers 200.
    pub async fn start(bin: impl AsRef<Path>, opts: SluiceOptions) -> Sluice {
        let (tmp, data_dir) = match &opts.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                // In /tmp and world-traversable: the embedded cluster runs as `postgres` under root.
                let t = tempfile::Builder::new()
                    .prefix("sluice-e2e")
                    .tempdir_in("/tmp")
                    .expect("tempdir");
                std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let port = opts.port.unwrap_or_else(free_port);
        let mut env = vec![
            ("SLUICE_BIND".to_string(), format!("127.0.0.1:{port}")),
            ("SLUICE_DOMAIN".to_string(), format!("127.0.0.1:{port}")),
            ("SLUICE_DEV_MODE".to_string(), "1".to_string()),
            (
                "SLUICE_DATA_DIR".to_string(),
                data_dir.display().to_string(),
            ),
            ("SLUICE_HTTP_WORKERS".to_string(), "2".to_string()),
        ];
        if let Some(url) = &opts.database_url {
            env.push(("SLUICE_DATABASE_URL".to_string(), url.clone()));
        }
        env.extend(opts.env.iter().cloned());
        let log = data_dir.join(format!("sluice-{port}.log"));
        let mut s = Sluice {
            bin: bin.as_ref().to_path_buf(),
            child: None,
            base: format!("http://127.0.0.1:{port}"),
            port,
            data_dir,
            env,
            _tmp: tmp,
            log,
            log_filter: opts
                .log
                .clone()
                .unwrap_or_else(|| "info,sluice=debug".to_string()),
        };
        s.spawn().await;
        s
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        // A clean environment: no SLUICE_* from the developer's shell leaks in.
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().cloned());
        cmd.env("SLUICE_LOG", &self.log_filter);
        cmd
    }

    async fn spawn(&mut self) {
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = self
            .command()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(logfile.try_clone().expect("log"))
            .stderr(logfile)
            .spawn()
            .expect("spawn sluice (is the binary built?)");
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60)).await;
    }

    /// Waits for `/readyz` to answer 200; panics with the log when it does not.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let client = http_client();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("sluice exited early ({status}):\n{}", self.log_text());
            }
            if Instant::now() > deadline {
                panic!("sluice not ready in time:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Runs `sluice ARGS` with the same configuration (an admin command).
    pub fn admin(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("run sluice admin command")
    }

    /// Sends `signal` and waits for the process to exit; returns its exit status.
    pub fn signal_and_wait(&mut self, signal: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "sluice did not exit after signal {signal}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        self.signal_and_wait(libc::SIGKILL);
    }

    /// Starts it again with the same settings (after `kill9` or `stop`).
    /// A running process is stopped first: spawning beside it would leave it running (and
    /// answering on the port, so a test would talk to the old process without knowing).
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn().await;
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal_and_wait(libc::SIGTERM)
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as above.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
