//! Thresholds and the plain words `sluice doctor` says about its measurements.
//!
//! Pure functions of the numbers, so the wording and the boundaries are unit-tested.
//! docs/doctor.md lists [`THRESHOLDS`] (a test keeps the two in sync).

use super::report::{CommitMillis, Millis, Status, fmt_ms};
use sluice_db::probe::ServerInfo;
use sluice_db::tls::{Mode, Policy};

/// Database round-trip (p50) below which the database counts as close: same host or rack.
/// Above it, one serial sender is capped below ~500 activities/s by the database alone.
pub const RTT_CLOSE_MS: f64 = 2.0;
/// Database round-trip (p50) from which it is probably in another data centre.
pub const RTT_FAR_MS: f64 = 10.0;
/// Round-trips are "unsteady" when p90 exceeds this many medians (and [`RTT_CLOSE_MS`]).
pub const RTT_JITTER_FACTOR: f64 = 4.0;
/// Checking an idle connection out costs no round-trip; above this something is wrong.
pub const CHECKOUT_SLOW_MS: f64 = 1.0;
/// WAL flush (commit time beyond its two round-trips) above which storage is slow.
pub const FLUSH_SLOW_MS: f64 = 10.0;
/// Oldest PostgreSQL major version sluice is meant for (`server_version_num`).
pub const MIN_PG_VERSION_NUM: i32 = 130000;
/// Name resolution slower than this is a slow resolver.
pub const DNS_SLOW_MS: f64 = 250.0;
/// TCP connect (about one network round-trip) above which a peer is far.
pub const PEER_FAR_MS: f64 = 150.0;
/// TLS handshake slower than this.
pub const TLS_SLOW_MS: f64 = 500.0;
/// Fetching nodeinfo (two requests) slower than this.
pub const NODEINFO_SLOW_MS: f64 = 2000.0;

/// Serial acknowledgements per second (1 / database round-trip) below which the doctor
/// recommends `journal = "local"`.
pub const LOCAL_JOURNAL_BELOW_ACKS_PER_S: f64 = 100.0;

/// Every threshold by the name docs/doctor.md uses, with its value.
pub const THRESHOLDS: &[(&str, f64)] = &[
    ("db_rtt_close_ms", RTT_CLOSE_MS),
    ("db_rtt_far_ms", RTT_FAR_MS),
    ("db_rtt_jitter_factor", RTT_JITTER_FACTOR),
    ("pool_checkout_slow_ms", CHECKOUT_SLOW_MS),
    ("commit_flush_slow_ms", FLUSH_SLOW_MS),
    ("min_postgres_version_num", MIN_PG_VERSION_NUM as f64),
    ("peer_dns_slow_ms", DNS_SLOW_MS),
    ("peer_far_ms", PEER_FAR_MS),
    ("peer_tls_slow_ms", TLS_SLOW_MS),
    ("peer_nodeinfo_slow_ms", NODEINFO_SLOW_MS),
    (
        "local_journal_below_acks_per_s",
        LOCAL_JOURNAL_BELOW_ACKS_PER_S,
    ),
];

/// Activities per second one serial sender can get acknowledged when each costs `ms`.
pub fn serial_rate(ms: f64) -> String {
    if ms <= 0.0 {
        return "thousands of".into();
    }
    let rate = 1000.0 / ms;
    if rate >= 1000.0 {
        format!("~{:.0}", (rate / 100.0).floor() * 100.0)
    } else {
        format!("~{:.0}", rate.floor().max(0.0))
    }
}

/// Whether the journal setting suits the measured round-trip: with `journal = "postgres"`
/// each acknowledgement waits one round-trip, so one serial sender gets at most
/// 1 / round-trip acknowledgements per second.
pub fn journal(m: &Millis, mode: crate::config::JournalMode) -> (Status, String) {
    use crate::config::JournalMode;
    let ceiling = if m.p50 > 0.0 {
        1000.0 / m.p50
    } else {
        f64::INFINITY
    };
    let rate = serial_rate(m.p50);
    let far = ceiling < LOCAL_JOURNAL_BELOW_ACKS_PER_S;
    match (mode, far) {
        (JournalMode::Postgres, true) => (
            Status::Warn,
            format!(
                "with journal = \"postgres\" every acknowledgement waits one database \
                 round-trip ({}), so one serial sender gets at most {rate} acknowledgements/s, \
                 below {LOCAL_JOURNAL_BELOW_ACKS_PER_S}/s. Set journal = \"local\": sluice then \
                 acknowledges after a write to its own disk (under data_dir) and moves the \
                 activities to the database in batches, so the database's distance no longer \
                 limits your peers.",
                fmt_ms(m.p50)
            ),
        ),
        (JournalMode::Postgres, false) => (
            Status::Ok,
            format!(
                "journal = \"postgres\": one serial sender can get {rate} acknowledgements/s \
                 through the database; the local journal is not needed."
            ),
        ),
        (JournalMode::Local, _) => (
            Status::Ok,
            "journal = \"local\": acknowledgements wait for a local fsync, not for the \
             database; the database's distance only delays processing."
                .into(),
        ),
    }
}

/// The database round-trip verdict.
pub fn db_rtt(m: &Millis) -> (Status, String) {
    let (p50, p99) = (fmt_ms(m.p50), fmt_ms(m.p99));
    let rate = serial_rate(m.p50);
    let (mut status, mut msg) = if m.p50 < RTT_CLOSE_MS {
        (
            Status::Ok,
            format!(
                "database round-trip {p50} (p50), {p99} (p99) over {} pings: the database is \
                 close; an acknowledgement's database cost is about {p50}, so serial senders \
                 are limited by their own network distance, not by the database.",
                m.samples
            ),
        )
    } else if m.p50 < RTT_FAR_MS {
        (
            Status::Warn,
            format!(
                "database round-trip {p50} (p50), {p99} (p99) over {} pings: the database is \
                 not on this host or rack; each acknowledgement costs ≥ {p50}, so one serial \
                 sender can deliver at most {rate} activities/s. Move sluice closer to its \
                 database if peers fall behind.",
                m.samples
            ),
        )
    } else {
        (
            Status::Warn,
            format!(
                "database round-trip {p50} (p50), {p99} (p99) over {} pings: your database is \
                 probably in another data centre; each acknowledgement costs ≥ {p50}, so one \
                 serial sender can deliver at most {rate} activities/s. Put sluice next to its \
                 database.",
                m.samples
            ),
        )
    };
    if m.p90 > RTT_JITTER_FACTOR * m.p50 && m.p90 > RTT_CLOSE_MS {
        status = Status::Warn;
        msg.push_str(&format!(
            " Round-trips are unsteady (p90 {} is over {RTT_JITTER_FACTOR}× the median): \
             a congested link or a busy database.",
            fmt_ms(m.p90)
        ));
    }
    (status, msg)
}

/// The pool checkout verdict.
pub fn checkout(m: &Millis) -> (Status, String) {
    let (p50, p99) = (fmt_ms(m.p50), fmt_ms(m.p99));
    if m.p50 > CHECKOUT_SLOW_MS {
        (
            Status::Warn,
            format!(
                "checking out an idle connection takes {p50} (p50), {p99} (p99); it should \
                 send nothing to the database. Is the host overloaded?"
            ),
        )
    } else {
        (
            Status::Ok,
            format!("{p50} (p50), {p99} (p99) to check out an idle connection: no round-trip."),
        )
    }
}

/// The commit verdict.
pub fn commit(c: &CommitMillis, info: &ServerInfo) -> (Status, String) {
    let (p50, p99, flush) = (
        fmt_ms(c.total.p50),
        fmt_ms(c.total.p99),
        fmt_ms(c.flush_p50),
    );
    if info.synchronous_commit == "off" || info.fsync == "off" {
        return (
            Status::Ok,
            format!(
                "a small transaction costs {p50} (p50), {p99} (p99); commits do not wait for \
                 the disk here (see durability)."
            ),
        );
    }
    if c.flush_p50 > FLUSH_SLOW_MS {
        (
            Status::Warn,
            format!(
                "a durable commit costs {p50} (p50), {p99} (p99), of which ~{flush} beyond the \
                 two round-trips is the WAL flush: slow storage. Every acknowledgement waits \
                 for a flush (concurrent ones share it); put the WAL on faster disks."
            ),
        )
    } else {
        (
            Status::Ok,
            format!(
                "a durable commit costs {p50} (p50), {p99} (p99): two round-trips and ~{flush} \
                 of WAL flush."
            ),
        )
    }
}

/// The durability-settings verdict.
pub fn durability(info: &ServerInfo) -> (Status, String) {
    let mut problems = Vec::new();
    if info.fsync == "off" {
        problems.push(
            "fsync is off: a crash of the database host can lose acknowledged activities and \
             corrupt the cluster",
        );
    }
    if info.synchronous_commit == "off" {
        problems.push(
            "synchronous_commit is off: a database crash can lose the last acknowledged \
             activities, which their senders will not send again",
        );
    }
    if problems.is_empty() {
        (
            Status::Ok,
            format!(
                "fsync on, synchronous_commit {}: an acknowledged activity survives a crash.",
                info.synchronous_commit
            ),
        )
    } else {
        (
            Status::Warn,
            format!(
                "{}. Fine for tests, not for production.",
                problems.join("; ")
            ),
        )
    }
}

/// The server version verdict.
pub fn version(info: &ServerInfo, connect_ms: f64) -> (Status, String) {
    let text = format!(
        "PostgreSQL {}, connected in {}",
        info.version,
        fmt_ms(connect_ms)
    );
    if info.version_num < MIN_PG_VERSION_NUM {
        (
            Status::Warn,
            format!("{text}; versions before 13 are not supported (sluice is tested on 15)."),
        )
    } else {
        (Status::Ok, format!("{text}."))
    }
}

/// How the connection reaches the database: a unix socket, loopback, or a network, and
/// whether it is encrypted and the server authenticated (`policy`: the URL's `sslmode` and
/// `sslrootcert`). Plain text or an unchecked certificate across a network warn.
pub fn transport(info: &ServerInfo, policy: &Policy) -> (Status, String) {
    let Some(addr) = info.server_addr.as_deref() else {
        return (
            Status::Ok,
            "over a unix socket: nothing crosses a network.".into(),
        );
    };
    let loopback = addr
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    let tls = info.tls_version.as_deref().unwrap_or("TLS");
    let checked = match (policy.mode, &policy.roots) {
        (Mode::VerifyFull, _) => Some("the server's certificate and name are checked"),
        (Mode::VerifyCa, _) | (Mode::Require, Some(_)) => {
            Some("the server's certificate chain is checked, its name is not")
        }
        _ => None,
    };
    match (info.ssl, loopback, checked) {
        (false, true, _) => (
            Status::Ok,
            format!("over loopback TCP ({addr}), not encrypted: nothing crosses a network."),
        ),
        (false, false, _) => (
            Status::Warn,
            format!(
                "not encrypted: the database at {addr} is reached across a network in plain \
                 text (its password and every activity). Turn on ssl in PostgreSQL and add \
                 sslmode=verify-full&sslrootcert=/path/to/ca.pem to database_url."
            ),
        ),
        (true, _, Some(checked)) => (Status::Ok, format!("encrypted ({tls}); {checked}.")),
        (true, true, None) => (Status::Ok, format!("encrypted ({tls}) over loopback.")),
        (true, false, None) => (
            Status::Warn,
            format!(
                "encrypted ({tls}), but the server's certificate is not checked (sslmode \
                 prefer or require without sslrootcert): whoever sits on the path to {addr} \
                 could pose as the database. Use sslmode=verify-full with sslrootcert."
            ),
        ),
    }
}

/// The peer distance verdict from its TCP connect time.
pub fn peer_tcp(ms: f64, addr: &str) -> (Status, String) {
    let t = fmt_ms(ms);
    let rate = serial_rate(ms);
    let base = format!(
        "connected to {addr} in {t} (about one network round-trip): a serial exchange with this \
         peer costs ≥ {t} per activity ({rate}/s)"
    );
    if ms > PEER_FAR_MS {
        (
            Status::Warn,
            format!(
                "{base}; the peer is far. sluice delivers to it without stalling other peers, \
                 but a serial sender there is limited by this distance."
            ),
        )
    } else {
        (Status::Ok, format!("{base}."))
    }
}

/// A verdict for a simple timing with one "slow" threshold.
pub fn timed(what: &str, ms: f64, slow_ms: f64, slow_hint: &str) -> (Status, String) {
    if ms > slow_ms {
        (
            Status::Warn,
            format!("{what} took {}: slow; {slow_hint}", fmt_ms(ms)),
        )
    } else {
        (Status::Ok, format!("{what} took {}.", fmt_ms(ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn millis(ms: &[f64]) -> Millis {
        let d: Vec<Duration> = ms
            .iter()
            .map(|m| Duration::from_secs_f64(m / 1e3))
            .collect();
        Millis::of(&d).unwrap()
    }

    #[test]
    fn the_founding_incident_reads_as_in_the_issue() {
        let (s, msg) = db_rtt(&millis(&[48.0; 50]));
        assert_eq!(s, Status::Warn);
        assert!(msg.starts_with("database round-trip 48 ms (p50)"), "{msg}");
        assert!(msg.contains("another data centre"), "{msg}");
        assert!(
            msg.contains("one serial sender can deliver at most ~20 activities/s"),
            "{msg}"
        );
        assert!(msg.contains("Put sluice next to its database"), "{msg}");
    }

    #[test]
    fn a_local_database_is_ok_and_a_near_one_warns() {
        assert_eq!(db_rtt(&millis(&[0.2; 50])).0, Status::Ok);
        let (s, msg) = db_rtt(&millis(&[5.0; 50]));
        assert_eq!(s, Status::Warn);
        assert!(msg.contains("at most ~200 activities/s"), "{msg}");
        // Jitter turns an otherwise fine result into a warning; one slow sample does not.
        let mut v = vec![0.3; 49];
        v.push(30.0);
        assert_eq!(db_rtt(&millis(&v)).0, Status::Ok);
        let mut v = vec![0.3; 80];
        v.extend([30.0; 20]);
        let (s, msg) = db_rtt(&millis(&v));
        assert_eq!(s, Status::Warn, "{msg}");
        assert!(msg.contains("unsteady"));
    }

    #[test]
    fn serial_rates_are_rounded_down() {
        assert_eq!(serial_rate(48.0), "~20");
        assert_eq!(serial_rate(50.4), "~19");
        assert_eq!(serial_rate(0.25), "~4000");
    }

    fn info() -> ServerInfo {
        ServerInfo {
            version: "15.8".into(),
            version_num: 150008,
            fsync: "on".into(),
            synchronous_commit: "on".into(),
            server_addr: None,
            ssl: false,
            tls_version: None,
        }
    }

    #[test]
    fn plain_text_or_an_unchecked_certificate_across_a_network_warns() {
        let policy = |url: &str| sluice_db::tls::split(url).unwrap().1;
        let prefer = policy("postgres://db/s");
        let full = policy("postgres://db/s?sslmode=verify-full");
        let pinned = policy("postgres://db/s?sslmode=require&sslrootcert=/ca.pem");
        let at = |addr: Option<&str>, tls: bool| ServerInfo {
            server_addr: addr.map(str::to_string),
            ssl: tls,
            tls_version: tls.then(|| "TLSv1.3".to_string()),
            ..info()
        };
        let status = |i: &ServerInfo, p: &Policy| transport(i, p).0;
        assert_eq!(status(&at(None, false), &prefer), Status::Ok, "unix socket");
        assert_eq!(status(&at(Some("127.0.0.1"), false), &prefer), Status::Ok);
        assert_eq!(status(&at(Some("::1"), false), &prefer), Status::Ok);
        let (s, msg) = transport(&at(Some("10.0.0.5"), false), &prefer);
        assert_eq!(s, Status::Warn);
        assert!(
            msg.contains("not encrypted") && msg.contains("verify-full"),
            "{msg}"
        );
        let (s, msg) = transport(&at(Some("10.0.0.5"), true), &prefer);
        assert_eq!(s, Status::Warn);
        assert!(msg.contains("not checked"), "{msg}");
        let (s, msg) = transport(&at(Some("10.0.0.5"), true), &full);
        assert_eq!(s, Status::Ok);
        assert!(
            msg.contains("TLSv1.3") && msg.contains("name are checked"),
            "{msg}"
        );
        let (s, msg) = transport(&at(Some("10.0.0.5"), true), &pinned);
        assert_eq!(s, Status::Ok, "require with sslrootcert checks the chain");
        assert!(msg.contains("name is not"), "{msg}");
    }

    #[test]
    fn durability_settings_that_lose_acknowledged_work_warn() {
        let mut info = info();
        assert_eq!(durability(&info).0, Status::Ok);
        info.synchronous_commit = "off".into();
        assert_eq!(durability(&info).0, Status::Warn);
        assert_eq!(version(&info, 1.0).0, Status::Ok);
        info.version_num = 120003;
        assert_eq!(version(&info, 1.0).0, Status::Warn);
    }

    #[test]
    fn a_far_database_recommends_the_local_journal_in_postgres_mode_only() {
        use crate::config::JournalMode;
        let far = millis(&[25.0; 9]);
        let (s, msg) = journal(&far, JournalMode::Postgres);
        assert_eq!(s, Status::Warn);
        assert!(msg.contains("at most ~40 acknowledgements/s"), "{msg}");
        assert!(msg.contains("Set journal = \"local\""), "{msg}");
        assert_eq!(journal(&far, JournalMode::Local).0, Status::Ok);
        let near = millis(&[5.0; 9]);
        let (s, msg) = journal(&near, JournalMode::Postgres);
        assert_eq!(s, Status::Ok);
        assert!(!msg.contains("Set journal"), "{msg}");
    }

    #[test]
    fn every_threshold_is_documented_with_its_value() {
        let doc = include_str!("../../../../docs/doctor.md");
        for (name, value) in THRESHOLDS {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("docs/doctor.md has no row for `{name}`"));
            let cell = row.split('|').nth(2).unwrap_or("").trim();
            assert_eq!(
                cell,
                format!("{value}"),
                "value of `{name}` in docs/doctor.md"
            );
        }
    }
}
