//! Two `sluice serve` processes on one database (one instance,
//! one domain: what runs behind a load balancer) share one journal. Deliveries are spread
//! over both processes' sockets; both pipelines claim batches; no row is processed twice and
//! the tables come out exact.

use crate::federation::ENV;
use crate::support::{admin_ok, metrics, second_process, sluice_on_test_db};
use futures::StreamExt;
use serde_json::Value;
use sluice_testkit::Sluice;
use sluice_testkit::lemmy::{Rows, docs};
use sluice_testkit::peer::{Behaviour, TestPeer};
use std::time::{Duration, Instant};

const POSTS: usize = 10;
const VOTERS: usize = 30;
/// How long the slow post's server takes to answer (see below).
const STALL: Duration = Duration::from_secs(3);
const LIMIT: Duration = Duration::from_secs(120);

/// Voter `i`'s vote on post `j`: a mix of likes and dislikes.
fn score(i: usize, j: usize) -> i32 {
    if (i + j).is_multiple_of(3) { -1 } else { 1 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_journal_without_doing_a_row_twice() {
    // Small batches, so that the work is cut into many claims.
    let mut env: Vec<(&str, &str)> = ENV.to_vec();
    env.push(("SLUICE_PIPELINE_BATCH_SIZE", "8"));
    env.push(("SLUICE_PIPELINE_BATCH_MAX", "8"));
    let (s1, t) = sluice_on_test_db(&env).await;
    let s2 = second_process(&s1, &t, &env).await;
    let rows = Rows::new(t.db.clone());

    let peer = TestPeer::start_on("127.0.0.7").await;
    let community = peer.add_group("main").await;
    let author = peer.add_person("author").await;
    let mut voters = Vec::new();
    for i in 0..VOTERS {
        voters.push(peer.add_person(&format!("voter{i}")).await);
    }
    // Posts are kept in communities a local user follows (what the local application
    // writes when alice follows it).
    admin_ok(&s1, &["user", "create", "alice"]);
    rows.remote_community(&community, Some(&format!("{}/u/alice", s1.base)))
        .await;

    // Everything is addressed to the instance's inbox; even deliveries go to s1's socket,
    // odd ones to s2's, with the same signed Host.
    let inbox = format!("{}/inbox", s1.base);
    let sockets = [s1.base.clone(), s2.base.clone()];
    let deliver_all = |activities: Vec<Value>| {
        let (peer, inbox, sockets) = (&peer, &inbox, &sockets);
        async move {
            let answers: Vec<(String, u16, String)> =
                futures::stream::iter(activities.into_iter().enumerate())
                    .map(|(n, a)| async move {
                        let actor = a["actor"].as_str().unwrap().to_string();
                        let d = peer
                            .deliver_via(inbox, &sockets[n % 2], &actor, &a)
                            .await
                            .unwrap();
                        (a["id"].as_str().unwrap().to_string(), d.status, d.text)
                    })
                    .buffer_unordered(16)
                    .collect()
                    .await;
            for (id, status, text) in answers {
                assert_eq!(status, 202, "{id}: {text}");
                assert!(text.contains("accepted"), "{id}: {text}");
            }
        }
    };

    let posts: Vec<String> = (0..POSTS)
        .map(|j| peer.url(&format!("/post/{j}")))
        .collect();
    deliver_all(
        posts
            .iter()
            .map(|p| docs::wrap("Create", &author, docs::page(p, &author, &community)))
            .collect(),
    )
    .await;
    wait_processed(&rows, POSTS as i64, &s1, &s2).await;

    // A vote on a post not known here, whose server answers slowly: the process that
    // claims it waits in that batch, so the other one must take the next rows meanwhile.
    // Both processes work, whichever claims first.
    let slow = peer.url("/post/slow");
    peer.serve_json(&slow, docs::page(&slow, &author, &community));
    peer.set_route_behaviour(
        &slow,
        Behaviour {
            delay: Some(STALL),
            status: None,
        },
    );
    deliver_all(vec![docs::vote(&voters[0], &slow, 1)]).await;
    let deadline = Instant::now() + LIMIT;
    while peer.fetch_count(&slow) == 0 {
        assert!(Instant::now() < deadline, "nobody fetched the slow post");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut votes = Vec::new();
    for (i, voter) in voters.iter().enumerate() {
        for (j, post) in posts.iter().enumerate() {
            votes.push(docs::vote(voter, post, score(i, j)));
        }
    }
    let total = POSTS + 1 + votes.len();
    // The first half arrives during the stall, the second once both processes are free
    // again, so that their claims also race each other.
    let second = votes.split_off(votes.len() / 2);
    let first = POSTS + 1 + votes.len();
    deliver_all(votes).await;
    wait_processed(&rows, first as i64, &s1, &s2).await;
    let (a1, a2) = (processed(&s1).await, processed(&s2).await);
    deliver_all(second).await;
    wait_processed(&rows, total as i64, &s1, &s2).await;

    // Every row done, each claimed exactly once.
    assert_eq!(
        rows.states().await,
        vec![("done".to_string(), total as i64)]
    );
    assert_eq!(
        rows.count("SELECT count(*) AS v FROM received_activity WHERE attempts <> 1")
            .await,
        0,
        "no row was claimed twice"
    );
    // Each process processed some, and together exactly every row once.
    let (n1, n2) = (processed(&s1).await, processed(&s2).await);
    eprintln!(
        "rows processed: {n1} by the first process, {n2} by the second \
         ({} and {} of the second half)",
        n1 - a1,
        n2 - a2
    );
    assert!(n1 > 0 && n2 > 0, "both processes worked: {n1} and {n2}");
    assert_eq!(n1 + n2, total, "every row processed once: {n1} + {n2}");

    // The tables are exact: every voter stored once, every vote counted once.
    assert_eq!(
        rows.count(&format!(
            "SELECT count(*) AS v FROM person WHERE ap_id LIKE '{}/u/%'",
            peer.base()
        ))
        .await,
        VOTERS as i64 + 1
    );
    assert_eq!(
        rows.count("SELECT count(*) AS v FROM vote").await,
        (VOTERS * POSTS + 1) as i64
    );
    let mut want = vec![format!("{slow} 1/1/0")];
    for (j, post) in posts.iter().enumerate() {
        let up = (0..VOTERS).filter(|i| score(*i, j) > 0).count() as i64;
        let down = VOTERS as i64 - up;
        want.push(format!("{post} {}/{up}/{down}", up - down));
    }
    want.sort();
    let got = rows
        .texts(
            "SELECT ap_id || ' ' || score || '/' || upvotes || '/' || downvotes AS v \
             FROM post ORDER BY ap_id",
        )
        .await;
    assert_eq!(got, want);
}

/// Waits until `n` journal rows exist and none is pending.
async fn wait_processed(rows: &Rows, n: i64, s1: &Sluice, s2: &Sluice) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let states = rows.states().await;
        let all: i64 = states.iter().map(|(_, c)| c).sum();
        if all == n && !states.iter().any(|(s, _)| s == "pending") {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "journal not processed in {LIMIT:?} ({n} expected): {states:?}\n\
                 first process:\n{}\nsecond process:\n{}",
                s1.log_text(),
                s2.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Journal rows this process finished (done, ignored or failed), from its own metrics.
async fn processed(s: &Sluice) -> usize {
    let body = metrics(&s.base).await;
    body.lines()
        .filter(|l| l.starts_with("sluice_pipeline_activities_total{"))
        .filter(|l| !l.contains(r#"result="retry""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize
}
