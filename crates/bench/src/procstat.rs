//! CPU time and memory of processes, from `/proc` (Linux).
//!
//! CPU seconds are `utime + stime` of `/proc/<pid>/stat` (all threads of the process); peak
//! RSS is `VmHWM` of `/proc/<pid>/status`, the high-water mark since the process started
//! (each scenario starts a fresh sluice, so it is that scenario's peak).

use std::path::Path;

/// Clock ticks per second for `/proc/<pid>/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// What `/proc/<pid>/stat` says of a process's CPU time, in seconds.
struct Stat {
    ppid: i32,
    /// `utime + stime`: the process itself (all its threads).
    own: f64,
    /// `cutime + cstime`: its children that have exited and been waited for.
    reaped_children: f64,
}

/// The CPU times of a process, if it exists.
fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the name, 0-based: state(0) ppid(1) ... utime(11) stime(12) cutime(13)
    // cstime(14).
    let field = |i: usize| -> Option<f64> { f.get(i)?.parse().ok() };
    let tick = ticks_per_second();
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        own: (field(11)? + field(12)?) / tick,
        reaped_children: (field(13)? + field(14)?) / tick,
    })
}

/// CPU seconds `pid` has used so far (0 when it is gone).
pub fn cpu_seconds(pid: i32) -> f64 {
    stat(pid).map_or(0.0, |s| s.own)
}

/// CPU seconds of `pid` and its children (PostgreSQL: the postmaster and its backends): the
/// live children's own, plus what the exited ones left in the parent's `cutime + cstime`,
/// so a backend that ends between two readings does not make the difference negative.
pub fn tree_cpu_seconds(pid: i32) -> f64 {
    let Some(parent) = stat(pid) else {
        return 0.0;
    };
    let mut total = parent.own + parent.reaped_children;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some(s) = stat(child)
                && s.ppid == pid
            {
                total += s.own;
            }
        }
    }
    total
}

/// Peak resident set size of `pid` in MiB (`VmHWM`), 0 when unknown.
pub fn peak_rss_mb(pid: i32) -> f64 {
    status_kib(format!("/proc/{pid}/status"), "VmHWM:") / 1024.0
}

fn status_kib(path: impl AsRef<Path>, field: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// CPU seconds this process (the load generator) has used so far.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id() as i32;
        let before = cpu_seconds(pid);
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(300) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds(pid) > before, "CPU time did not grow");
        assert!(peak_rss_mb(pid) > 1.0);
        assert_eq!(cpu_seconds(-5), 0.0);
    }
}
