//! Creating, starting, attaching to and stopping the private cluster.

use crate::{Error, PgBinaries, RunAs, find_binaries, io_err};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The port only names the socket file (`.s.PGSQL.<port>`); the cluster listens on no TCP port.
const SOCKET_PORT: u16 = 5432;
/// Longest unix socket path the kernel accepts, minus the file name PostgreSQL appends.
const MAX_SOCKET_DIR: usize = 107 - ".s.PGSQL.5432".len() - 1;

/// Whether we must own the cluster or may use one that is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// `sluice serve`: the cluster lives and dies with this process. If another process
    /// runs it (an admin command finishing), wait briefly, then refuse.
    Exclusive,
    /// Admin commands and tests: use the running cluster if there is one, else start it
    /// for the duration of the command.
    ReuseRunning,
}

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Home of the cluster: holds `data/`, `run/` (the socket) and `postgres.log`.
    pub dir: PathBuf,
    /// Ownership policy.
    pub ownership: Ownership,
    /// `fsync=off` for throw-away test clusters only; production keeps it on.
    pub fsync: bool,
    /// How long to wait for the server to accept connections.
    pub ready_timeout: Duration,
    /// Extra server settings, passed as `-c NAME=VALUE` at start (e.g. the benchmark's
    /// `shared_preload_libraries=pg_stat_statements`). Empty by default: sluice itself needs none.
    pub settings: Vec<(String, String)>,
}

impl ClusterOptions {
    /// Defaults for a durable cluster in `dir`.
    pub fn new(dir: impl Into<PathBuf>, ownership: Ownership) -> Self {
        ClusterOptions {
            dir: dir.into(),
            ownership,
            fsync: true,
            ready_timeout: Duration::from_secs(60),
            settings: Vec::new(),
        }
    }
}

/// A running cluster. Dropping an owned cluster stops it.
pub struct Cluster {
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    owned: Option<Owned>,
}

struct Owned {
    pid: i32,
    /// Fires when the postmaster exits. (A Mutex only to make `Cluster` shareable.)
    exited: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Owned {
    fn wait_exit(&self, timeout: Duration) -> bool {
        match self.exited.lock() {
            Ok(rx) => !matches!(
                rx.recv_timeout(timeout),
                Err(mpsc::RecvTimeoutError::Timeout)
            ),
            Err(_) => false,
        }
    }
}

impl Cluster {
    /// Creates the cluster on first use and starts it (or attaches to a running one, as
    /// `opts.ownership` allows).
    pub fn start(opts: &ClusterOptions) -> Result<Cluster, Error> {
        let bins = find_binaries()?;
        let user = RunAs::pick();
        let home = reachable_home(&opts.dir, &user)?;
        let data = home.join("data");
        let log = home.join("postgres.log");
        make_private_dir(&home, &user)?;
        if !data.join("PG_VERSION").exists() {
            init(&bins, &user, &data, opts.fsync)?;
        }

        if let Some(running) = running_postmaster(&data) {
            match opts.ownership {
                Ownership::ReuseRunning => {
                    return Ok(Cluster {
                        data,
                        socket_dir: running.socket_dir,
                        log,
                        owned: None,
                    });
                }
                Ownership::Exclusive => {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while running_postmaster(&data).is_some() {
                        if Instant::now() > deadline {
                            return Err(Error::InUse {
                                dir: home.display().to_string(),
                                pid: running.pid,
                            });
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }

        let socket_dir = socket_dir_for(&home);
        make_private_dir(&socket_dir, &user)?;
        let owned = spawn_postmaster(&bins, &user, &data, &socket_dir, &log, opts)?;
        let cluster = Cluster {
            data,
            socket_dir,
            log,
            owned: Some(owned),
        };
        cluster.wait_ready(opts.ready_timeout)?;
        tracing::info!(dir = %home.display(), "embedded PostgreSQL started");
        Ok(cluster)
    }

    /// A connection URL for database `db` over the cluster's unix socket.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@localhost:{SOCKET_PORT}/{db}?host={}",
            self.socket_dir.display()
        )
    }

    /// The unix socket the server listens on (`<socket dir>/.s.PGSQL.5432`).
    pub fn socket_path(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"))
    }

    /// True when this process started the cluster and will stop it.
    pub fn is_owned(&self) -> bool {
        self.owned.is_some()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The postmaster's process id, when we own it.
    pub fn pid(&self) -> Option<i32> {
        self.owned.as_ref().map(|o| o.pid)
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(owned) = &self.owned
                && owned.wait_exit(Duration::ZERO)
            {
                return Err(Error::Command {
                    what: "starting PostgreSQL",
                    detail: format!("the server exited; its log says:\n{}", log_tail(&self.log)),
                });
            }
            if let Some(pm) = running_postmaster(&self.data)
                && pm.ready
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady(
                    timeout.as_secs(),
                    self.log.display().to_string(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops an owned cluster (fast shutdown: clients are disconnected, a checkpoint is
    /// written). Does nothing for a cluster we only attached to.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), Error> {
        let Some(owned) = self.owned.take() else {
            return Ok(());
        };
        for (signal, wait) in [(libc::SIGINT, 60), (libc::SIGQUIT, 10)] {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(owned.pid, signal) };
            if owned.wait_exit(Duration::from_secs(wait)) {
                tracing::info!("embedded PostgreSQL stopped");
                return Ok(());
            }
        }
        Err(Error::Command {
            what: "stopping PostgreSQL",
            detail: format!("pid {} did not exit", owned.pid),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::warn!(error = %e, "embedded PostgreSQL");
        }
    }
}

/// The cluster home, or a stand-in under /var/lib/sluice when the unprivileged user cannot
/// traverse the configured path (typical: a checkout under /root, run as root).
fn reachable_home(dir: &Path, user: &RunAs) -> Result<PathBuf, Error> {
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    let dir = fs::canonicalize(dir).map_err(io_err("resolving", dir))?;
    if user.can_reach(&dir) {
        return Ok(dir);
    }
    let fallback = PathBuf::from("/var/lib/sluice").join(format!("pg-{:016x}", path_hash(&dir)));
    fs::create_dir_all(&fallback).map_err(io_err("creating", &fallback))?;
    tracing::warn!(
        wanted = %dir.display(), using = %fallback.display(),
        "the PostgreSQL user cannot reach data_dir; keeping the embedded cluster elsewhere"
    );
    Ok(fallback)
}

fn socket_dir_for(home: &Path) -> PathBuf {
    let dir = home.join("run");
    if dir.as_os_str().len() <= MAX_SOCKET_DIR {
        dir
    } else {
        std::env::temp_dir().join(format!("sluice-pg-{:016x}", path_hash(home)))
    }
}

fn path_hash(p: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

fn make_private_dir(dir: &Path, user: &RunAs) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err("chmod", dir))?;
    user.chown(dir).map_err(io_err("chown", dir))
}

fn init(bins: &PgBinaries, user: &RunAs, data: &Path, fsync: bool) -> Result<(), Error> {
    make_private_dir(data, user)?;
    let mut cmd = Command::new(bins.program("initdb"));
    cmd.arg("-D")
        .arg(data)
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"]);
    if !fsync {
        cmd.arg("--no-sync");
    }
    drop_privileges(&mut cmd, user, false);
    let out = cmd.output().map_err(|e| Error::Command {
        what: "initdb",
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            what: "initdb",
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Starts the postmaster from a dedicated thread that waits on it for the rest of the
/// process's life: the parent-death signal fires when the *thread* that forked exits, so
/// it must be one that never exits early.
fn spawn_postmaster(
    bins: &PgBinaries,
    user: &RunAs,
    data: &Path,
    socket_dir: &Path,
    log: &Path,
    opts: &ClusterOptions,
) -> Result<Owned, Error> {
    let fsync = opts.fsync;
    let logfile = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err("opening", log))?;
    user.chown(log).map_err(io_err("chown", log))?;
    let logfile2 = logfile.try_clone().map_err(io_err("opening", log))?;
    let mut cmd = Command::new(bins.program("postgres"));
    cmd.arg("-D")
        .arg(data)
        .arg("-k")
        .arg(socket_dir)
        .args(["-p", &SOCKET_PORT.to_string(), "-c", "listen_addresses="])
        .args(["-c", &format!("fsync={}", if fsync { "on" } else { "off" })])
        .stdin(Stdio::null())
        .stdout(logfile)
        .stderr(logfile2);
    if !fsync {
        cmd.args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
    }
    for (name, value) in &opts.settings {
        cmd.arg("-c").arg(format!("{name}={value}"));
    }
    drop_privileges(&mut cmd, user, true);

    let (pid_tx, pid_rx) = mpsc::channel::<Result<i32, String>>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("pg-keeper".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id() as i32));
                let _ = child.wait();
                let _ = exit_tx.send(());
            }
            Err(e) => {
                let _ = pid_tx.send(Err(e.to_string()));
            }
        })
        .map_err(|e| Error::Command {
            what: "spawning the keeper thread",
            detail: e.to_string(),
        })?;
    let pid = pid_rx
        .recv()
        .map_err(|e| Error::Command {
            what: "starting postgres",
            detail: e.to_string(),
        })?
        .map_err(|detail| Error::Command {
            what: "starting postgres",
            detail,
        })?;
    Ok(Owned {
        pid,
        exited: std::sync::Mutex::new(exit_rx),
    })
}

/// Runs the child as `user` in its own process group; with `tie_to_parent`, it gets
/// SIGINT (PostgreSQL's fast shutdown) when its parent dies.
fn drop_privileges(cmd: &mut Command, user: &RunAs, tie_to_parent: bool) {
    let user = *user;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (setpgid, setgroups, setgid, setuid, prctl, getppid).
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            // Own process group: a terminal's Ctrl-C reaches sluice, which then stops
            // the cluster in order, instead of both at once.
            libc::setpgid(0, 0);
            if user.switch
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(user.gid) != 0
                    || libc::setuid(user.uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // After setuid: a credential change clears the parent-death signal.
            if tie_to_parent {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
            Ok(())
        });
    }
}

struct RunningPostmaster {
    pid: i32,
    socket_dir: PathBuf,
    ready: bool,
}

/// Reads `postmaster.pid` (pid, data dir, start time, port, socket dir, listen address,
/// shmem key, status) and checks the pid is alive.
fn running_postmaster(data: &Path) -> Option<RunningPostmaster> {
    let text = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let pid: i32 = lines.first()?.trim().parse().ok()?;
    // SAFETY: signal 0 only checks for existence.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !alive {
        return None;
    }
    Some(RunningPostmaster {
        pid,
        socket_dir: PathBuf::from(lines.get(4).map(|s| s.trim()).unwrap_or("")),
        ready: lines.get(7).map(|s| s.trim() == "ready").unwrap_or(false),
    })
}

fn log_tail(log: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(log) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_attach_and_stop_leave_no_process() {
        let tmp = tempfile::Builder::new()
            .prefix("pgc")
            .tempdir_in("/tmp")
            .unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let mut opts = ClusterOptions::new(tmp.path().join("pg"), Ownership::Exclusive);
        opts.fsync = false;
        let cluster = Cluster::start(&opts).unwrap();
        let pid = cluster.pid().unwrap();
        assert!(cluster.url("sluice").contains("host="));

        // A second user of the same directory attaches without owning it.
        let attach = Cluster::start(&ClusterOptions {
            ownership: Ownership::ReuseRunning,
            ..opts.clone()
        })
        .unwrap();
        assert!(!attach.is_owned());
        drop(attach);
        // SAFETY: existence check only.
        assert_eq!(
            unsafe { libc::kill(pid, 0) },
            0,
            "attaching and detaching must not stop it"
        );

        cluster.stop().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_ne!(
            unsafe { libc::kill(pid, 0) },
            0,
            "postmaster still alive after stop"
        );
        assert!(running_postmaster(&tmp.path().join("pg/data")).is_none());
    }
}
