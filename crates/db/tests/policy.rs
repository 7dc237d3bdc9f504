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
