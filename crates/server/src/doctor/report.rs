//! What `sluice doctor` found: checks with a status and a plain-words message, and the
//! measurements behind them, rendered for people or (`--json`) for scripts.

use serde::Serialize;
use std::time::Duration;

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but costs throughput or safety; the message says what to change.
    Warn,
    /// Does not work; `sluice doctor` exits non-zero.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short, stable name (`database`, `db_roundtrip`, `peer_tls`, ...).
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found and what it means, in plain words.
    pub message: String,
}

/// Summary statistics of repeated timings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Millis {
    /// Median.
    pub p50: f64,
    /// 90th percentile (what the jitter verdict uses: p99 of a few dozen samples is their
    /// single slowest, one scheduling hiccup on a busy host).
    pub p90: f64,
    /// 99th percentile (nearest rank: the slowest sample below 100 samples).
    pub p99: f64,
    /// Fastest.
    pub min: f64,
    /// Slowest.
    pub max: f64,
    /// Number of samples.
    pub samples: usize,
}

impl Millis {
    /// Statistics of `samples` (`None` when empty).
    pub fn of(samples: &[Duration]) -> Option<Millis> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let rank = |q: f64| ms[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        (n > 0).then(|| Millis {
            p50: round(rank(0.5)),
            p90: round(rank(0.9)),
            p99: round(rank(0.99)),
            min: round(ms[0]),
            max: round(ms[n - 1]),
            samples: n,
        })
    }
}

/// Rounds to microseconds, so JSON shows `0.123`, not `0.12345678`.
pub fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// Formats milliseconds for people: `12 µs`, `0.21 ms`, `4.8 ms`, `48 ms`.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 0.1 {
        format!("{:.0} µs", ms * 1000.0)
    } else if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Commit timings and the part that is not network.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CommitMillis {
    /// The whole transaction: `BEGIN` + write, then `COMMIT`.
    #[serde(flatten)]
    pub total: Millis,
    /// Median time beyond the two round-trips: the WAL flush (fsync) and the write itself.
    pub flush_p50: f64,
}

/// Timings towards one peer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeerTimings {
    /// The peer as given.
    pub domain: String,
    /// Name resolution.
    pub dns_ms: Option<f64>,
    /// TCP connect (about one network round-trip).
    pub tcp_ms: Option<f64>,
    /// TLS handshake (none over plain http in dev_mode).
    pub tls_ms: Option<f64>,
    /// `/.well-known/nodeinfo` and the nodeinfo document it links, together.
    pub nodeinfo_ms: Option<f64>,
    /// `software.name` and `software.version` from nodeinfo.
    pub software: Option<String>,
}

/// Everything `sluice doctor` found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// This sluice's version.
    pub version: &'static str,
    /// Which database was examined (password redacted).
    pub database: String,
    /// Database round-trip time over a dedicated connection.
    pub db_rtt_ms: Option<Millis>,
    /// Opening one database connection (TCP or socket, startup, authentication, setup).
    pub db_connect_ms: Option<f64>,
    /// Checking an idle connection out of the pool.
    pub pool_checkout_ms: Option<Millis>,
    /// A small durable write and its commit.
    pub commit_ms: Option<CommitMillis>,
    /// `--peer` timings.
    pub peer: Option<PeerTimings>,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// The worst status of all checks.
    pub status: Option<Status>,
}

impl Report {
    /// Records a check.
    pub fn push(&mut self, name: &'static str, status: Status, message: impl Into<String>) {
        self.checks.push(Check {
            name,
            status,
            message: message.into(),
        });
    }

    /// The worst status (ok when nothing ran).
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let mut out = format!(
            "sluice doctor {} (database: {})\n\n",
            self.version, self.database
        );
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            out.push_str(&format!(
                "  {:<5} {:<width$}  {}\n",
                c.status.label(),
                c.name,
                c.message
            ));
        }
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        let (warns, fails) = (count(Status::Warn), count(Status::Fail));
        out.push_str(&match (warns, fails) {
            (0, 0) => "\nall checks passed\n".to_string(),
            (w, 0) => format!("\n{w} warning(s), no failures\n"),
            (w, f) => format!("\n{f} failure(s), {w} warning(s)\n"),
        });
        out
    }

    /// The report for scripts.
    pub fn json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["status"] = serde_json::json!(self.worst());
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// One line naming every failed check, for stderr and the exit status.
    pub fn failures(&self) -> Option<String> {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("{}: {}", c.name, c.message))
            .collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let m = Millis::of(&d).unwrap();
        assert_eq!((m.p50, m.p90, m.p99), (50.0, 90.0, 99.0));
        assert_eq!((m.min, m.max, m.samples), (1.0, 100.0, 100));
        let one = Millis::of(&[Duration::from_micros(250)]).unwrap();
        assert_eq!((one.p50, one.p99), (0.25, 0.25));
        assert!(Millis::of(&[]).is_none());
    }

    #[test]
    fn times_read_naturally() {
        assert_eq!(fmt_ms(0.004), "4 µs");
        assert_eq!(fmt_ms(0.21), "0.21 ms");
        assert_eq!(fmt_ms(4.83), "4.8 ms");
        assert_eq!(fmt_ms(48.2), "48 ms");
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut r = Report {
            version: "0.0.0",
            db_rtt_ms: Millis::of(&[Duration::from_millis(2)]),
            ..Report::default()
        };
        r.push("database", Status::Ok, "fine");
        r.push("db_roundtrip", Status::Warn, "far");
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["db_rtt_ms"]["p50"], 2.0);
        assert_eq!(v["checks"][1]["status"], "warn");
        assert_eq!(v["checks"][1]["name"], "db_roundtrip");
        assert_eq!(v["status"], "warn");
        assert!(r.failures().is_none());
        r.push("peer_tls", Status::Fail, "bad certificate");
        assert_eq!(r.failures().unwrap(), "peer_tls: bad certificate");
    }
}
