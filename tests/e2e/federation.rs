//! A small federation for the fixture scenarios: the real `sluice` binary playing the
//! scenario's local instance(s), and one `TestPeer` per remote fixture host, each on its own
//! loopback address. Activities reach sluice as signed deliveries from their actor's peer
//! (activitypub_federation signs them) to `POST /inbox`, or to the inbox of the local actor
//! they are addressed to; the scenario then reads the tables.

use crate::support::sluice_on_test_db;
use serde_json::Value;
use sluice_testkit::Sluice;
use sluice_testkit::lemmy::{Hosts, JournalRow, Rows, Scenario, World, docs};
use sluice_testkit::peer::TestPeer;
use std::time::{Duration, Instant};

/// How long one activity may take from delivery to its journal row's end.
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// The loopback address each remote fixture host gets (distinct hosts, as in the fixtures).
const ADDRESSES: &[(&str, &str)] = &[
    ("ds9.lemmy.ml", "127.0.0.2"),
    ("enterprise.lemmy.ml", "127.0.0.3"),
    ("voyager.lemmy.ml", "127.0.0.4"),
    ("lemmy-alpha:8541", "127.0.0.5"),
    ("lemmy-alpha", "127.0.0.6"),
];

/// sluice configured for fast, patient tests: transient trouble is retried soon, and the
/// send queue notices the pipeline's Accepts and Announces quickly.
pub const ENV: &[(&str, &str)] = &[
    ("SLUICE_PIPELINE_RETRY_BASE_SECONDS", "0.2"),
    ("SLUICE_PIPELINE_FETCH_TIMEOUT_SECONDS", "5"),
    ("SLUICE_DELIVERY_POLL_MS", "50"),
    ("SLUICE_DELIVERY_FLUSH_MS", "200"),
];

/// sluice, its database, and the peers.
pub struct Federation {
    pub sluice: Sluice,
    pub rows: Rows,
    pub hosts: Hosts,
    /// `(fixture host, peer)`.
    peers: Vec<(&'static str, TestPeer)>,
}

impl Federation {
    /// sluice plays the local hosts of `scenarios`; every remote host is a peer.
    pub async fn start(scenarios: &[Scenario]) -> Federation {
        Federation::start_with(scenarios, &[]).await
    }

    /// The same, with settings of its own added to [`ENV`].
    pub async fn start_with(scenarios: &[Scenario], extra_env: &[(&str, &str)]) -> Federation {
        let env: Vec<(&str, &str)> = ENV.iter().chain(extra_env).copied().collect();
        let (sluice, t) = sluice_on_test_db(&env).await;
        let local = format!("127.0.0.1:{}", sluice.port);
        let mut hosts = Hosts::unchanged();
        let mut peers: Vec<(&'static str, TestPeer)> = Vec::new();
        for s in scenarios {
            for host in s.local() {
                hosts = hosts.with(host, &local);
            }
            for host in s.remote() {
                if peers.iter().any(|(h, _)| h == host) {
                    continue;
                }
                let ip = ADDRESSES
                    .iter()
                    .find(|(h, _)| h == host)
                    .map(|(_, ip)| *ip)
                    .unwrap_or_else(|| panic!("no address for {host}"));
                let peer = TestPeer::start_on(ip).await;
                hosts = hosts.with(host, peer.domain());
                peers.push((host, peer));
            }
        }
        Federation {
            rows: Rows::new(t.db.clone()),
            sluice,
            hosts,
            peers,
        }
    }

    /// The peer standing in for a fixture host.
    pub fn peer(&self, fixture_host: &str) -> &TestPeer {
        self.peers
            .iter()
            .find(|(h, _)| *h == fixture_host)
            .map(|(_, p)| p)
            .unwrap_or_else(|| panic!("{fixture_host} is not a peer here"))
    }

    /// The peer that `url` lives on.
    /// The local actor's inbox the activity is addressed to, else the shared inbox.
    fn inbox_for(&self, a: &Value) -> String {
        let base = &self.sluice.base;
        let to = match &a["to"] {
            Value::Array(v) => v.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => vec![s.as_str()],
            _ => vec![],
        };
        let local_actor = |id: &&str| {
            id.strip_prefix(base.as_str())
                .is_some_and(|p| p.starts_with("/c/") || p.starts_with("/u/"))
        };
        match a["object"].as_str().into_iter().chain(to).find(local_actor) {
            Some(actor) => format!("{actor}/inbox"),
            None => format!("{base}/inbox"),
        }
    }

    fn peer_of(&self, url: &str) -> &TestPeer {
        let authority = docs::authority(url);
        self.peers
            .iter()
            .map(|(_, p)| p)
            .find(|p| p.domain() == authority)
            .unwrap_or_else(|| panic!("{url} is not on a peer (local to sluice?)"))
    }

    /// Waits until the journal row of `activity_id` is processed for good.
    async fn wait_final(&self, activity_id: &str) -> JournalRow {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let row = self.rows.journal_row_of(activity_id).await;
            if let Some(r) = &row
                && r.is_final()
            {
                return r.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "{activity_id} not processed within {STEP_LIMIT:?}: {row:?}\nsluice log:\n{}",
                    self.sluice.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn admin(&self, args: &[&str]) {
        let out = self.sluice.admin(args);
        assert!(
            out.status.success(),
            "sluice {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl World for Federation {
    fn rows(&self) -> &Rows {
        &self.rows
    }

    fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    async fn remote_person(&mut self, id: &str) {
        let got = self.peer_of(id).add_person(&docs::last_segment(id)).await;
        assert_eq!(got, id, "the peer serves the person at the fixture's id");
    }

    async fn remote_community(&mut self, id: &str, follower: Option<&str>) {
        let got = self.peer_of(id).add_group(&docs::last_segment(id)).await;
        assert_eq!(got, id, "the peer serves the community at the fixture's id");
        self.rows.remote_community(id, follower).await;
    }

    async fn serve(&mut self, doc: Value) {
        let id = doc["id"]
            .as_str()
            .expect("a document with an id")
            .to_string();
        self.peer_of(&id).serve_json(&id, doc);
    }

    async fn local_person(&mut self, name: &str) -> String {
        self.admin(&["user", "create", name]);
        let id = format!("{}/u/{name}", self.sluice.base);
        inbox_ready(&id).await;
        id
    }

    async fn local_community(&mut self, name: &str) -> String {
        self.admin(&["community", "create", name]);
        let id = format!("{}/c/{name}", self.sluice.base);
        inbox_ready(&id).await;
        id
    }

    /// A signed delivery from the activity's actor to sluice; 202, then wait for the
    /// pipeline. Like Lemmy, a sender without a shared inbox to use posts to the addressed
    /// actor's own inbox: an activity whose object is a local actor (a Follow) or addressed
    /// `to` one (a private message) goes to `/c/NAME/inbox` or `/u/NAME/inbox`, so both
    /// kinds of inbox feed the pipeline; everything else goes to the shared `/inbox`.
    async fn step(&mut self, a: &Value) -> JournalRow {
        let (id, actor) = (
            a["id"].as_str().expect("activity id"),
            a["actor"].as_str().expect("activity actor"),
        );
        let inbox = self.inbox_for(a);
        let answer = self
            .peer_of(actor)
            .deliver(&inbox, actor, a)
            .await
            .unwrap_or_else(|e| panic!("delivering {id}: {e}"));
        assert_eq!(
            (
                answer.status,
                answer
                    .json()
                    .and_then(|j| j["status"].as_str().map(str::to_string))
            ),
            (202, Some("accepted".to_string())),
            "{id}: {}\nsluice log:\n{}",
            answer.text,
            self.sluice.log_text()
        );
        self.wait_final(id).await
    }

    async fn reprocess(&mut self, activity_id: &str) -> JournalRow {
        self.rows.set_pending(activity_id).await;
        self.wait_final(activity_id).await
    }

    fn fetched(&self, url: &str) -> bool {
        self.peer_of(url).fetch_count(url) > 0
    }
}

/// Waits until the running sluice knows the actor just created by an admin command: its
/// inbox learns new local names at its next refresh (`inbox_refresh_ms`), and answers 404
/// until then. An unsigned POST is refused either way; only the 404 matters here.
async fn inbox_ready(actor: &str) {
    let client = sluice_testkit::http_client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = client
            .post(format!("{actor}/inbox"))
            .header("content-type", "application/activity+json")
            .body("{}")
            .send()
            .await
            .map(|r| r.status().as_u16());
        if matches!(status, Ok(s) if s != 404) {
            return;
        }
        assert!(Instant::now() < deadline, "{actor}/inbox: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
