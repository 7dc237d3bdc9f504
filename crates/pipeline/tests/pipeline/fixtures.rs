//! Every Lemmy fixture activity, inserted into the journal as the receiver would, ends in
//! the rows it stands for; missing actors and objects are fetched from a test peer. The
//! scenarios (activities and expected rows) are `sluice_testkit::lemmy`'s, shared with the
//! end-to-end suite, which runs them over HTTP against the real binary.

use crate::support;

use sluice_testkit::lemmy::Scenario;
use support::Harness;

async fn run(domain: &str, scenario: Scenario) {
    let mut h = Harness::new(domain).await;
    scenario.run(&mut h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_seen_from_a_third_instance() {
    run("sluice.test", Scenario::ThirdInstance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_seen_from_the_community_instance() {
    run("enterprise.lemmy.ml", Scenario::CommunityInstance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_seen_from_the_follower_and_message_recipient() {
    run("ds9.lemmy.ml", Scenario::FollowerInstance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lemmy_0_19_private_message_as_chat_message() {
    run("voyager.lemmy.ml", Scenario::ChatRecipient).await;
}
