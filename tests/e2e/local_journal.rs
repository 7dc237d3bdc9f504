//! `journal = "local"` through the real binary: acknowledged after a local fsync with no
//! database round-trip, nothing lost to `kill -9`, acknowledgements through a database
//! outage (then drained), 429 at the journal's bound, 503 (never 202) when the disk is
//! full, and one process per journal directory.

use crate::inbox::{deliver_answer, journal, known_signer, like};
use crate::support::{BIN, metric_sum, metrics, run_sluice};
use serde_json::Value;
use sluice_apub::signature::Signer;
use sluice_testkit::{Sluice, SluiceOptions, test_db};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

const LOCAL: [(&str, &str); 2] = [
    ("SLUICE_JOURNAL", "local"),
    ("SLUICE_PIPELINE_ENABLED", "false"),
];

fn id(n: u64) -> String {
    format!("http://127.0.0.1:9/activities/like/{n}")
}

/// A signed delivery to the shared inbox: its status, JSON answer and `Retry-After`.
async fn send(base: &str, signer: &Signer, body: &str) -> (u16, Value, Option<String>) {
    deliver_answer(base, "/inbox", signer, body).await
}

/// Waits until every id in `want` is in `received_activity`.
async fn drained(t: &sluice_testkit::TestDb, want: &BTreeSet<String>, s: &Sluice) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let have: BTreeSet<String> = journal(t).await.into_iter().collect();
        if want.is_subset(&have) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not drained: {:?}\n{}",
            want.difference(&have).collect::<Vec<_>>(),
            s.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn env(url: &str, extra: &[(&str, &str)]) -> SluiceOptions {
    SluiceOptions {
        database_url: Some(url.to_string()),
        env: LOCAL
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_without_a_round_trip_and_nothing_lost_to_kill_9() {
    let t = test_db().await;
    let mut s = Sluice::start(BIN, env(&t.url, &[])).await;
    let signer = known_signer(&t).await;
    // The first request loads the key from `remote_key` (its one round-trip).
    assert_eq!(send(&s.base, &signer, &like(0)).await.0, 202);
    let before = metrics(&s.base).await;
    let mut acked = BTreeSet::from([id(0)]);
    for n in 1..=40 {
        let (status, v, _) = send(&s.base, &signer, &like(n)).await;
        assert_eq!(
            (status, v["status"].as_str()),
            (202, Some("accepted")),
            "{v}"
        );
        acked.insert(id(n));
    }
    // A re-sent id is answered from the recent ids, without a write.
    let (status, v, _) = send(&s.base, &signer, &like(7)).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (202, Some("duplicate")),
        "{v}"
    );
    let after = metrics(&s.base).await;
    let trips = |m: &str| metric_sum(m, "sluice_inbox_ack_db_roundtrips_sum");
    let acks = |m: &str| metric_sum(m, "sluice_inbox_ack_db_roundtrips_count");
    assert_eq!(acks(&after) - acks(&before), 41.0);
    assert_eq!(
        trips(&after) - trips(&before),
        0.0,
        "round-trips on the request path"
    );

    s.kill9();
    // Whatever the drainer had not moved yet is in the local journal; the restart drains it.
    s.restart().await;
    drained(&t, &acked, &s).await;
    let rows = journal(&t).await;
    assert_eq!(rows.len(), acked.len(), "one row per id: {rows:?}");
}

/// A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones refused)
/// and restored: the database "goes away" for sluice only.
struct Cuttable {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Cuttable {
    async fn start(target: SocketAddr) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(tokio::sync::watch::channel(0u64).0);
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue;
                }
                let mut cut = gen2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Cuttable {
            addr,
            up,
            generation,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The test database's URL with its host and port replaced by `via`.
fn through(url: &str, via: SocketAddr) -> (String, SocketAddr) {
    let u = url::Url::parse(url).unwrap();
    let target: SocketAddr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))
        .parse()
        .unwrap();
    let mut v = u.clone();
    v.set_host(Some(&via.ip().to_string())).unwrap();
    v.set_port(Some(via.port())).unwrap();
    (v.to_string(), target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_keeps_acknowledging_up_to_the_bound_then_drains() {
    let t = test_db().await;
    let (_, target) = through(&t.url, "127.0.0.1:1".parse().unwrap());
    let relay = Cuttable::start(target).await;
    let (url, _) = through(&t.url, relay.addr);
    let s = Sluice::start(
        BIN,
        env(&url, &[("SLUICE_LOCAL_JOURNAL_MAX_BYTES", "8000")]),
    )
    .await;
    let signer = known_signer(&t).await;
    assert_eq!(send(&s.base, &signer, &like(0)).await.0, 202);
    let mut acked = BTreeSet::from([id(0)]);

    relay.cut();
    let mut full = None;
    for n in 1..=200 {
        let (status, v, retry_after) = send(&s.base, &signer, &like(n)).await;
        match status {
            202 => {
                acked.insert(id(n));
            }
            429 => {
                full = Some((v, retry_after));
                break;
            }
            _ => panic!("{status} {v}\n{}", s.log_text()),
        }
    }
    let (v, retry_after) = full.expect("the bound was never reached");
    assert_eq!(v["rc"], "LocalJournalFull", "{v}");
    assert!(retry_after.is_some(), "429 without Retry-After");
    assert!(
        acked.len() > 5,
        "acknowledged during the outage: {}",
        acked.len()
    );
    let during: BTreeSet<String> = journal(&t).await.into_iter().collect();
    assert!(
        acked.difference(&during).count() > 0,
        "acknowledged during the outage, not in the database yet"
    );

    relay.restore();
    drained(&t, &acked, &s).await;
    // With room again, acknowledged again.
    let (status, v, _) = send(&s.base, &signer, &like(1000)).await;
    assert_eq!(status, 202, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_never_202_and_recovers() {
    let t = test_db().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    std::fs::create_dir_all(&dir).unwrap();
    let _mount = Tmpfs::mount(&dir, "4m");
    let s = Sluice::start(
        BIN,
        SluiceOptions {
            data_dir: Some(tmp.path().to_path_buf()),
            ..env(&t.url, &[])
        },
    )
    .await;
    let signer = known_signer(&t).await;
    assert_eq!(send(&s.base, &signer, &like(0)).await.0, 202);

    let filler = dir.join("filler");
    fill(&filler);
    // A write into a page the store already holds still succeeds (and is durable), so the
    // first answers may be 202; once a write needs room, 503. Never anything else.
    let mut acked = BTreeSet::from([id(0)]);
    let mut refused = 0;
    for n in 1..=300 {
        let (status, v, retry_after) = send(&s.base, &signer, &padded(n)).await;
        match status {
            202 => {
                acked.insert(id(n));
            }
            503 => {
                assert_eq!(v["rc"], "LocalJournalUnavailable", "{v}");
                assert_eq!(
                    retry_after.as_deref(),
                    Some("10"),
                    "503 without Retry-After"
                );
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            _ => panic!("{status} {v}"),
        }
    }
    assert_eq!(refused, 5, "the full disk never refused:\n{}", s.log_text());
    std::fs::remove_file(&filler).unwrap();
    // The store is reopened at the next write: 503 until it is, then 202.
    let mut answered = false;
    for _ in 0..50 {
        let (status, v, _) = send(&s.base, &signer, &like(1000)).await;
        match status {
            202 => {
                answered = true;
                acked.insert(id(1000));
                break;
            }
            503 => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => panic!("{status} {v}"),
        }
    }
    assert!(answered, "never 202 again:\n{}", s.log_text());
    drained(&t, &acked, &s).await;
}

/// A Like with 3 KB of padding, so that appends soon need new pages.
fn padded(n: u64) -> String {
    let mut v: Value = serde_json::from_str(&like(n)).unwrap();
    v["padding"] = Value::String("x".repeat(3000));
    v.to_string()
}

/// Writes zeros to `path` until the file system has no room.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs (the test runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_journal_stops_with_a_clear_error() {
    let t = test_db().await;
    let s = Sluice::start(BIN, env(&t.url, &[])).await;
    let mut env = s.env.clone();
    let port = sluice_testkit::free_port();
    for (k, v) in env.iter_mut() {
        if k == "SLUICE_BIND" {
            *v = format!("127.0.0.1:{port}");
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(60), run_sluice(&env, &["serve"]))
        .await
        .expect("the second process kept running");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("in use by another sluice process"),
        "{stderr}"
    );
    // The first one still serves.
    let signer = known_signer(&t).await;
    assert_eq!(send(&s.base, &signer, &like(1)).await.0, 202);
}
