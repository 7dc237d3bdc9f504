//! The pipeline's policy table (built from its lookup's rows) and the inbox's and send
//! queue's (built from `load_policy`) come from the same rows through the same constructor,
//! so they decide alike for every host; entries are stored in their normal form.

use futures::FutureExt;
use sluice_db::ingest::lookup::{Keys, PolicyRows, lookup};
use sluice_db::instances::{self, Mode, Policy, decision_table};
use sluice_testkit::test_db;
use sluice_trust::host::InstanceHost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_and_the_inbox_load_the_same_decisions() {
    let t = test_db().await;
    let entries = [
        ("BLOCKED.Example.", Policy::Block),
        ("ok.blocked.example", Policy::Allow),
        ("bücher.example", Policy::Block),
        ("good.example", Policy::Allow),
        ("dev.example:8443", Policy::Allow),
        ("127.0.0.9:9", Policy::Block),
        ("https://user@Listed.Example:443/inbox", Policy::Allow),
    ];
    for (host, policy) in entries {
        let h = InstanceHost::parse(host).unwrap();
        instances::set_policy(&t.db, &h, policy, None)
            .await
            .unwrap();
    }
    let mut stored: Vec<String> = instances::list(&t.db)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.domain)
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            "127.0.0.9:9",
            "blocked.example",
            "dev.example:8443",
            "good.example",
            "listed.example",
            "ok.blocked.example",
            "xn--bcher-kva.example"
        ]
    );

    let hosts: Vec<String> = ["", "x.", "a.b."]
        .iter()
        .flat_map(|sub| {
            [
                "blocked.example",
                "ok.blocked.example",
                "xn--bcher-kva.example",
                "good.example",
                "dev.example",
                "listed.example",
                "other.example",
            ]
            .iter()
            .flat_map(move |h| {
                ["", ":443", ":8443", "."].map(|suffix| match suffix {
                    "." => format!("{sub}{h}."),
                    p => format!("{sub}{h}{p}"),
                })
            })
        })
        .chain(["127.0.0.9:9", "127.0.0.9:10", "exa$mple.com"].map(String::from))
        .collect();

    for mode in [Mode::Open, Mode::Allowlist] {
        instances::set_mode(&t.db, mode).await.unwrap();
        let inbox = instances::load_policy(&t.db).await.unwrap().policies();
        let rows = policy_rows(&t.db, None)
            .await
            .expect("no generation held yet");
        let pipeline = decision_table(
            Mode::parse(&rows.mode),
            rows.instances
                .iter()
                .map(|i| (i.domain.as_str(), Policy::parse(&i.policy))),
        );
        let mut admitted = 0;
        for h in &hosts {
            let d = inbox.decide_str(h);
            assert_eq!(d, pipeline.decide_str(h), "{h} in {mode:?}");
            admitted += usize::from(d.admits());
        }
        // The table is not trivially all-or-nothing in either mode.
        assert!(
            admitted > 0 && admitted < hosts.len(),
            "{mode:?}: {admitted}"
        );
    }
}

fn synced(domain: &str, policy: Policy, detail: &str) -> sluice_db::synced_policy::SyncedEntry {
    sluice_db::synced_policy::SyncedEntry {
        domain: domain.into(),
        policy,
        reason: Some("why".into()),
        detail: detail.into(),
    }
}

async fn policies(db: &sluice_db::Db) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = instances::list(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.policy() != Policy::None)
        .map(|i| (i.domain, i.policy, i.policy_source))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_entries_never_touch_manual_ones_and_concurrent_syncs_take_turns() {
    use sluice_db::synced_policy::{apply, status};
    let t = test_db().await;
    let manual = |d: &str| InstanceHost::parse(d).unwrap();
    instances::set_policy(&t.db, &manual("mine.example"), Policy::Block, None)
        .await
        .unwrap();
    instances::set_policy(&t.db, &manual("kept.example"), Policy::Allow, None)
        .await
        .unwrap();
    let gen0 = instances::policy_generation(&t.db).await.unwrap();
    let lists = vec![
        synced("good.example", Policy::Allow, "endorsed by f.example"),
        synced("mine.example", Policy::Allow, "endorsed by f.example"),
        synced("kept.example", Policy::Block, "censured by s.example"),
        synced("bad.example", Policy::Block, "censured by s.example"),
    ];
    // Two processes applying the same lists at once: one applies, the other finds
    // nothing left to change; the generation moves once.
    let (a, b) = tokio::join!(apply(&t.db, lists.clone()), apply(&t.db, lists.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.set.len() + b.set.len(), 2, "{a:?} {b:?}");
    assert_eq!((a.allows, a.blocks), (1, 1));
    assert_eq!(instances::policy_generation(&t.db).await.unwrap(), gen0 + 1);
    let s = |d: &str, p: &str, src: &str| (d.to_string(), p.to_string(), src.to_string());
    assert_eq!(
        policies(&t.db).await,
        [
            s("bad.example", "block", "fediseer"),
            s("good.example", "allow", "fediseer"),
            s("kept.example", "allow", "manual"),
            s("mine.example", "block", "manual"),
        ]
    );
    // Nothing new: no change, no bump.
    assert!(!apply(&t.db, lists).await.unwrap().changed());
    assert_eq!(instances::policy_generation(&t.db).await.unwrap(), gen0 + 1);
    // Everything withdrawn: the synced entries go, the manual ones stay.
    let gone = apply(&t.db, Vec::new()).await.unwrap();
    assert_eq!(gone.cleared.len(), 2, "{gone:?}");
    assert_eq!(
        policies(&t.db).await,
        [
            s("kept.example", "allow", "manual"),
            s("mine.example", "block", "manual"),
        ]
    );
    assert_eq!(instances::policy_generation(&t.db).await.unwrap(), gen0 + 2);
    assert!(status(&t.db).await.unwrap().last_success.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_take_turns_at_the_sync_lease() {
    use sluice_db::synced_policy::claim;
    use std::time::Duration;
    let t = test_db().await;
    let interval = Duration::from_millis(300);
    let (a, b) = tokio::join!(claim(&t.db, interval), claim(&t.db, interval));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one process syncs");
    assert!(!claim(&t.db, interval).await.unwrap());
    tokio::time::sleep(interval).await;
    assert!(claim(&t.db, interval).await.unwrap());
}

/// The policy rows a pipeline lookup returns to a caller holding `known`.
async fn policy_rows(db: &sluice_db::Db, known: Option<i64>) -> Option<PolicyRows> {
    db.run("lookup", move |c| {
        async move { lookup(c, &Keys::default(), known).await }.boxed()
    })
    .await
    .unwrap()
    .policy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_reads_policy_rows_only_when_their_generation_moved() {
    let t = test_db().await;
    let host = |h: &str| InstanceHost::parse(h).unwrap();
    instances::set_policy(&t.db, &host("blocked.example"), Policy::Block, None)
        .await
        .unwrap();
    let first = policy_rows(&t.db, None)
        .await
        .expect("read without a generation");
    assert_eq!(first.instances.len(), 1);
    // Held at this generation: no rows come back, however many entries there are.
    assert!(policy_rows(&t.db, Some(first.generation)).await.is_none());
    // A change moves the generation: the rows are read again, the change included.
    instances::set_policy(&t.db, &host("other.example"), Policy::Block, None)
        .await
        .unwrap();
    let second = policy_rows(&t.db, Some(first.generation))
        .await
        .expect("the generation moved");
    assert!(second.generation > first.generation);
    let mut domains: Vec<&str> = second.instances.iter().map(|i| i.domain.as_str()).collect();
    domains.sort();
    assert_eq!(domains, ["blocked.example", "other.example"]);
    // A change of mode alone moves it too.
    instances::set_mode(&t.db, Mode::Allowlist).await.unwrap();
    let third = policy_rows(&t.db, Some(second.generation))
        .await
        .expect("the mode changed");
    assert_eq!(third.mode, "allowlist");
}
