//! Faults through the real binary, under signed load:
//!
//! - PostgreSQL fast-shut down and started again, ten times: every answer is 202 or 503
//!   (with `Retry-After`), never 500 or a 4xx, and every acknowledged activity ends in the
//!   journal and the tables.
//! - `kill -9` of `sluice serve` mid-batch, then a restart: the rows the dead run had leased
//!   are processed while their old leases still run (the restart freed them; it did not
//!   wait them out), and every acknowledged activity ends in the tables.

use crate::federation::ENV;
use crate::support::{BIN, admin_ok, sluice_on_test_db};
use serde_json::Value;
use sluice_db::{Db, PoolOptions};
use sluice_pgcluster::{Cluster, ClusterOptions, Ownership};
use sluice_testkit::lemmy::{Rows, docs};
use sluice_testkit::peer::{Behaviour, TestPeer};
use sluice_testkit::{Sluice, SluiceOptions};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent senders.
const SENDERS: usize = 4;
/// PostgreSQL restarts under load.
const RESTARTS: usize = 10;
/// Guards against a hung test, not a speed target.
const LIMIT: Duration = Duration::from_secs(180);

/// What the senders saw.
#[derive(Default)]
struct Tally {
    /// Ids answered 202.
    acked: Mutex<BTreeSet<String>>,
    /// 503 answers (each followed by a retry).
    unavailable: AtomicUsize,
    /// 503s without `Retry-After`.
    no_retry_after: AtomicUsize,
    /// Anything else: `(id, status or error, body)`.
    bad: Mutex<Vec<(String, String, String)>>,
    /// Deliveries that got no answer while sluice was down on purpose (retried).
    unanswered: AtomicUsize,
}

impl Tally {
    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// One sender.
struct Sender {
    peer: Arc<TestPeer>,
    inbox: String,
    author: String,
    community: String,
    tag: String,
    /// sluice itself goes down during the run: no answer is retried, not a defect.
    outage: bool,
}

/// Sends Creates of new posts until `stop`, each retried after a 503 (or no answer during
/// an outage of sluice) until acknowledged.
async fn send_posts(snd: Sender, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let Sender {
        peer,
        inbox,
        author,
        community,
        tag,
        outage,
    } = snd;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let post = peer.url(&format!("/post/{tag}-{n}"));
        n += 1;
        let create = docs::wrap("Create", &author, docs::page(&post, &author, &community));
        let id = create["id"].as_str().unwrap_or_default().to_string();
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            match peer.deliver(&inbox, &author, &create).await {
                Ok(d) if d.status == 202 => {
                    tally.acked.lock().unwrap().insert(id.clone());
                    break;
                }
                Ok(d) if d.status == 503 => {
                    tally.unavailable.fetch_add(1, Ordering::Relaxed);
                    if d.headers.get("retry-after").is_none() {
                        tally.no_retry_after.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(d) => {
                    tally
                        .bad
                        .lock()
                        .unwrap()
                        .push((id.clone(), d.status.to_string(), d.text));
                    break;
                }
                Err(_) if outage => {
                    tally.unanswered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tally
                        .bad
                        .lock()
                        .unwrap()
                        .push((id.clone(), "no answer".into(), e.to_string()));
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Load {
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(peer: &Arc<TestPeer>, inbox: &str, community: &str, outage: bool) -> Load {
        let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
        let mut tasks = Vec::new();
        for i in 0..SENDERS {
            let author = peer.add_person(&format!("author{i}")).await;
            let snd = Sender {
                peer: peer.clone(),
                inbox: inbox.to_string(),
                author,
                community: community.to_string(),
                tag: format!("s{i}"),
                outage,
            };
            tasks.push(tokio::spawn(send_posts(snd, tally.clone(), stop.clone())));
        }
        Load { tally, stop, tasks }
    }

    /// Waits until `more` further activities are acknowledged.
    async fn wait_acked(&self, more: usize, log: impl Fn() -> String) {
        let target = self.tally.acked() + more;
        let deadline = Instant::now() + LIMIT;
        while self.tally.acked() < target {
            assert!(
                Instant::now() < deadline,
                "no progress: {} acknowledged, waiting for {target}\n{}",
                self.tally.acked(),
                log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.tally
    }
}

/// Waits until the journal holds every acknowledged id and nothing is pending, then checks
/// that each is done and that `posts` posts are stored.
async fn assert_all_applied(
    rows: &Rows,
    acked: &BTreeSet<String>,
    posts: usize,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let states = rows.states().await;
        let all: i64 = states.iter().map(|(_, n)| n).sum();
        if all as usize >= acked.len() && !states.iter().any(|(s, _)| s == "pending") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "journal not processed: {states:?}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done: BTreeSet<String> = rows
        .texts("SELECT activity_id AS v FROM received_activity WHERE state = 'done'")
        .await
        .into_iter()
        .collect();
    let missing: Vec<&String> = acked.difference(&done).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not applied: {missing:?}\n{:?}",
        rows.states().await
    );
    assert_eq!(
        rows.count("SELECT count(*) AS v FROM post").await as usize,
        posts,
        "one post per acknowledged Create"
    );
}

fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    ENV.iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A user to follow the peer's community, so its posts are kept (Lemmy's rule).
async fn follow(s: &Sluice, rows: &Rows, community: &str) {
    admin_ok(s, &["user", "create", "alice"]);
    rows.remote_community(community, Some(&format!("{}/u/alice", s.base)))
        .await;
}

fn start_cluster(opts: &ClusterOptions) -> Cluster {
    tokio::task::block_in_place(|| Cluster::start(opts)).expect("private PostgreSQL starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fast_shutdowns_under_load_answer_only_202_or_503_and_lose_nothing() {
    // A cluster of this test's own, which it can stop.
    let tmp = tempfile::Builder::new()
        .prefix("sluice-faults")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut opts = ClusterOptions::new(tmp.path().join("pg"), Ownership::Exclusive);
    opts.fsync = false;
    let mut cluster = Some(start_cluster(&opts));
    let url = cluster.as_ref().unwrap().url("postgres");
    let s = Sluice::start(
        BIN,
        SluiceOptions {
            database_url: Some(url.clone()),
            env: env(&[]),
            ..Default::default()
        },
    )
    .await;
    let rows = Rows::new(Db::connect(&url, PoolOptions::default()).await.unwrap());
    let peer = Arc::new(TestPeer::start_on("127.0.0.41").await);
    let community = peer.add_group("faults").await;
    follow(&s, &rows, &community).await;
    drop(rows);

    let load = Load::start(&peer, &format!("{}/inbox", s.base), &community, false).await;
    load.wait_acked(20, || s.log_text()).await;
    for round in 0..RESTARTS {
        if let Some(c) = cluster.take() {
            tokio::task::block_in_place(|| c.stop()).expect("fast shutdown");
        }
        // Load meets the database down for a moment, then it comes back.
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster = Some(start_cluster(&opts));
        load.wait_acked(10, || format!("round {round}\n{}", s.log_text()))
            .await;
    }
    let tally = load.finish().await;

    let bad = tally.bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "answers other than 202/503: {bad:?}");
    let unavailable = tally.unavailable.load(Ordering::Relaxed);
    assert!(unavailable > 0, "the restarts were felt: some 503s");
    assert_eq!(
        tally.no_retry_after.load(Ordering::Relaxed),
        0,
        "every 503 says when to retry"
    );
    let acked = tally.acked.lock().unwrap().clone();
    eprintln!(
        "{} acknowledged, {unavailable} answers 503 over {RESTARTS} restarts",
        acked.len()
    );
    let rows = Rows::new(Db::connect(&url, PoolOptions::default()).await.unwrap());
    assert_all_applied(&rows, &acked, acked.len(), || s.log_text()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_batch_then_restart_processes_the_dead_runs_rows_before_their_leases_end() {
    // Leases far longer than this test: a row processed after the restart was freed by it.
    let (mut s, t) = sluice_on_test_db(&[("SLUICE_PIPELINE_LEASE_SECONDS", "900")]).await;
    let rows = Rows::new(t.db.clone());
    let peer = Arc::new(TestPeer::start_on("127.0.0.42").await);
    let community = peer.add_group("faults").await;
    let voter = peer.add_person("voter").await;
    follow(&s, &rows, &community).await;

    let load = Load::start(&peer, &format!("{}/inbox", s.base), &community, true).await;
    load.wait_acked(20, || s.log_text()).await;

    // A vote on a post whose server answers slowly holds its batch (and its leases) while
    // the load goes on; sluice is killed right then.
    let slow = peer.url("/post/slow");
    peer.serve_json(&slow, docs::page(&slow, &voter, &community));
    peer.set_route_behaviour(
        &slow,
        Behaviour {
            delay: Some(Duration::from_secs(60)),
            status: None,
        },
    );
    let vote: Value = docs::vote(&voter, &slow, 1);
    let d = peer
        .deliver(&format!("{}/inbox", s.base), &voter, &vote)
        .await
        .unwrap();
    assert_eq!(d.status, 202, "{}", d.text);
    let deadline = Instant::now() + LIMIT;
    while peer.fetch_count(&slow) == 0 {
        assert!(Instant::now() < deadline, "nobody fetched the slow post");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.kill9();

    // The dead run's leases: rows pending, leased for many minutes yet.
    let leased = rows
        .count(
            "SELECT count(*) AS v FROM received_activity \
             WHERE state = 'pending' AND lease_until > now() + interval '5 minutes'",
        )
        .await;
    assert!(leased > 0, "the killed batch held leases");
    let leases_end = rows
        .text(
            "SELECT min(lease_until)::text AS v FROM received_activity \
             WHERE state = 'pending' AND lease_until > now() + interval '5 minutes'",
        )
        .await
        .expect("lease end");

    eprintln!("{leased} rows leased by the killed run until {leases_end}");
    peer.clear_route_behaviour(&slow);
    s.restart().await;
    load.wait_acked(20, || s.log_text()).await;
    let tally = load.finish().await;
    let bad = tally.bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "answers other than 202/503: {bad:?}");

    let mut acked = tally.acked.lock().unwrap().clone();
    acked.insert(vote["id"].as_str().unwrap().to_string());
    eprintln!(
        "{} acknowledged, {} deliveries unanswered while sluice was down",
        acked.len(),
        tally.unanswered.load(Ordering::Relaxed)
    );
    // The voted post is stored too, though no Create of the load made it.
    let posts = acked.len();
    assert_all_applied(&rows, &acked, posts, || s.log_text()).await;
    assert!(
        rows.flag(&format!("SELECT now() < '{leases_end}'::timestamptz AS v"))
            .await,
        "processed while the dead run's leases still ran: they were freed at start"
    );
    assert_eq!(rows.count("SELECT count(*) AS v FROM vote").await, 1);
    assert!(
        s.log_text()
            .contains("freed the journal leases of this process's previous run"),
        "the restart says what it freed"
    );
}
