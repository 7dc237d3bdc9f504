//! End to end: every Lemmy fixture activity, delivered over HTTP by a `TestPeer`
//! standing in for its instance (signed by activitypub_federation with the actor's key),
//! acknowledged by the real `sluice` binary, processed by its pipeline (which fetches what
//! it does not know from the peers), ends in the rows it stands for. The scenarios and their
//! assertions are `sluice_testkit::lemmy`'s, the same the pipeline's crate tests run with
//! journal rows inserted directly. Here, in addition, what sluice sends back (the
//! community's Accepts and its relayed Announce) must reach the peers, signed by the
//! community and verified by activitypub_federation.

use crate::federation::Federation;
use sluice_testkit::lemmy::{Scenario, World};
use sluice_testkit::peer::{Received, TestPeer};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_from_a_third_instance_over_http() {
    let mut f = Federation::start(&[Scenario::ThirdInstance]).await;
    Scenario::ThirdInstance.run(&mut f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_at_the_follower_and_message_recipient_over_http() {
    // sluice is ds9 and voyager at once: one instance with both users.
    let scenarios = [Scenario::FollowerInstance, Scenario::ChatRecipient];
    let mut f = Federation::start(&scenarios).await;
    for s in scenarios {
        s.run(&mut f).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_community_accepts_follows_and_relays_to_its_followers_instances() {
    let mut f = Federation::start(&[Scenario::CommunityInstance]).await;
    Scenario::CommunityInstance.run(&mut f).await;
    let main = f.hosts().map("http://enterprise.lemmy.ml/c/main");
    let create_id = f.hosts().activity("create_or_update/create_page.json")["id"].clone();

    // Each follower's instance got the Accept of its user's Follow at the user's inbox, and
    // the community's Announce of the new post once, at its shared inbox.
    for (host, user) in [
        ("ds9.lemmy.ml", "lemmy_alpha"),
        ("voyager.lemmy.ml", "seven"),
    ] {
        let peer = f.peer(host);
        let got = arrivals(peer, 2).await;
        let accept = only(&got, "Accept", host);
        assert_eq!(accept.path, format!("/u/{user}/inbox"));
        let follow = accept.json.as_ref().unwrap()["object"].clone();
        assert_eq!(follow["type"], "Follow");
        assert_eq!(follow["actor"], peer.actor_id(user).as_str());
        assert_eq!(follow["object"], main.as_str());
        let announce = only(&got, "Announce", host);
        assert_eq!(announce.path, "/inbox");
        let body = announce.json.as_ref().unwrap();
        assert_eq!(body["object"]["id"], create_id, "the Create, embedded");
        assert_eq!(
            body["object"]["object"]["id"],
            f.hosts().map("http://ds9.lemmy.ml/post/1").as_str()
        );
        for r in [accept, announce] {
            assert_eq!(
                r.actor.as_deref(),
                Some(main.as_str()),
                "sent as the community"
            );
        }
    }
}

/// Waits for `n` requests at `peer`; every one must be authentic: the signature verified by
/// activitypub_federation with the key it fetched from sluice, signed by the activity's actor.
async fn arrivals(peer: &TestPeer, n: usize) -> Vec<Received> {
    let got = peer
        .wait_received(n, LIMIT)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}: {:?}", peer.domain(), peer.received()));
    for r in &got {
        assert!(
            r.is_authentic(),
            "{} {:?} not authentic: {:?} (signer {:?})",
            peer.domain(),
            r.activity_type,
            r.verify_error,
            r.signer
        );
        assert_eq!(r.status, 200);
    }
    got
}

/// The one request of type `kind` (none twice).
fn only<'a>(got: &'a [Received], kind: &str, host: &str) -> &'a Received {
    let of: Vec<&Received> = got
        .iter()
        .filter(|r| r.activity_type.as_deref() == Some(kind))
        .collect();
    assert_eq!(of.len(), 1, "{host} got {} {kind}: {got:?}", of.len());
    of[0]
}
