//! The machine the numbers were taken on (they mean little without it).

use serde::Serialize;

/// What was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// Memory, GiB.
    pub ram_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// PostgreSQL server version (`SHOW server_version`), when known.
    pub postgres: Option<String>,
    /// Load averages (1, 5, 15 min) when the run started: other work on the machine.
    pub load_at_start: [f64; 3],
    /// Load averages when it ended.
    pub load_at_end: [f64; 3],
    /// `durable`: PostgreSQL with fsync on (commits wait for the disk).
    pub postgres_fsync: bool,
}

impl Machine {
    /// Reads everything but the PostgreSQL version.
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Machine {
            cpu,
            cores,
            ram_gib: (ram_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel,
            postgres: None,
            load_at_start: load(),
            load_at_end: [0.0; 3],
            postgres_fsync: true,
        }
    }
}

/// `/proc/loadavg`'s three averages.
pub fn load() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}
