//! Test support: receiving peers (testkit's `TestPeer`, which verifies every request's
//! signature with activitypub_federation and the signer's public key from `local_key`,
//! answers as scripted and records what it received); and a queue on a fresh database.

#![allow(dead_code)]

use futures::FutureExt;
use serde_json::{Value, json};
use sluice_db::outbound::{Audience, NewOutbound, append};
use sluice_db::{Db, diesel};
use sluice_net::{Client, NetConfig};
use sluice_queue::{Queue, QueueConfig, WindowConfig};
pub use sluice_testkit::peer::{Received, Reply, TestPeer};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The test instance's domain (ids use http: dev mode).
pub const LOCAL: &str = "local.test";

/// A receiving peer (testkit's [`TestPeer`]) that verifies the signatures of every local
/// actor in `db` with the key in `local_key` (sluice serves no actor documents here).
pub async fn trusting_peer(db: &Db) -> TestPeer {
    let peer = TestPeer::start().await;
    for (key_id, public_key_pem) in local_public_keys(db).await {
        let (actor, _) = key_id.rsplit_once('#').expect("a key id names its actor");
        peer.trust_key(actor, &public_key_pem);
    }
    peer
}

async fn local_public_keys(db: &Db) -> Vec<(String, String)> {
    #[derive(sluice_db::diesel::QueryableByName)]
    struct K {
        #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
        key_id: String,
        #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
        public_key_pem: String,
    }
    use sluice_db::diesel_async::RunQueryDsl;
    let rows: Vec<K> = db
        .run("test_keys", |c| {
            sluice_db::sql("SELECT key_id, public_key_pem FROM local_key")
                .load(c)
                .boxed()
        })
        .await
        .unwrap();
    rows.into_iter()
        .map(|k| (k.key_id, k.public_key_pem))
        .collect()
}

/// Id of a local actor.
pub fn actor(name: &str) -> String {
    format!("http://{LOCAL}/u/{name}")
}

/// Gives local actor `name` a fresh key pair.
pub async fn local_actor(db: &Db, name: &str) -> String {
    let id = actor(name);
    let kp = sluice_apub::keypair::generate().unwrap();
    sluice_db::actors::insert_key_if_absent(
        db,
        &id,
        &format!("{id}#main-key"),
        kp.public_pem,
        kp.private_pem,
    )
    .await
    .unwrap();
    id
}

/// A test activity: `n` about `object`, by `actor`.
pub fn activity(actor: &str, n: usize, object: &str) -> Value {
    json!({
        "id": format!("http://{LOCAL}/activities/{n}"),
        "type": "Like",
        "actor": actor,
        "object": object,
    })
}

/// Appends activities (each to `inboxes`) in one statement; returns their outbound ids.
pub async fn enqueue(db: &Db, items: Vec<(String, Value)>, inboxes: &[String]) -> Vec<i64> {
    let items: Vec<NewOutbound> = items
        .into_iter()
        .map(|(actor, raw)| NewOutbound {
            activity_id: raw["id"].as_str().unwrap().to_string(),
            actor_ap_id: actor,
            object_ap_id: raw["object"].as_str().map(str::to_string),
            raw,
            audience: Audience::Inboxes(inboxes.to_vec()),
        })
        .collect();
    db.run("test_enqueue", move |c| {
        async move { append(c, &items).await }.boxed()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|a| a.id)
    .collect()
}

/// Queue settings fast enough for tests.
pub fn fast(window: usize) -> QueueConfig {
    QueueConfig {
        window: WindowConfig::Fixed(window),
        lease_ttl: Duration::from_secs(3),
        poll_interval: Duration::from_millis(50),
        flush_interval: Duration::from_millis(100),
        ..QueueConfig::default()
    }
}

/// The outgoing client, loopback allowed, with a short timeout.
pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(NetConfig {
        dev_mode: true,
        request_timeout: Duration::from_secs(2),
        ..NetConfig::default()
    })
    .unwrap()
}

/// A queue on `db`.
pub fn queue(db: &Db, cfg: QueueConfig) -> Queue {
    cfg.start(
        sluice_queue::Deps {
            db: db.clone(),
            client: client(),
        },
        sluice_stage::Shutdown::new(),
    )
}

/// One row of `delivery_state` by domain.
#[derive(Debug, Clone, sluice_db::diesel::QueryableByName)]
pub struct State {
    #[diesel(sql_type = sluice_db::diesel::sql_types::BigInt)]
    pub last_delivered_id: i64,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Integer)]
    pub fail_count: i32,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
    pub state: String,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Nullable<sluice_db::diesel::sql_types::Text>)]
    pub lease_owner: Option<String>,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Nullable<sluice_db::diesel::sql_types::Timestamptz>)]
    pub next_retry_at: Option<chrono::DateTime<chrono::Utc>>,
    #[diesel(sql_type = sluice_db::diesel::sql_types::Nullable<sluice_db::diesel::sql_types::Text>)]
    pub last_error: Option<String>,
}

/// The delivery state of `domain`.
pub async fn state(db: &Db, domain: &str) -> Option<State> {
    use sluice_db::diesel_async::RunQueryDsl;
    let domain = domain.to_string();
    db.run("test_state", move |c| {
        sluice_db::sql(
            "SELECT d.last_delivered_id, d.fail_count, d.state, d.lease_owner, d.next_retry_at, d.last_error \
             FROM delivery_state d JOIN instance i ON i.id = d.instance_id WHERE i.domain = $1",
        )
        .bind::<sluice_db::diesel::sql_types::Text, _>(domain)
        .load::<State>(c)
        .boxed()
    })
    .await
    .unwrap()
    .pop()
}

/// Waits until `cond` holds for `domain`'s delivery state.
pub async fn wait_state(
    db: &Db,
    domain: &str,
    limit: Duration,
    cond: impl Fn(&State) -> bool,
) -> State {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = state(db, domain).await
            && cond(&s)
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "state of {domain} not reached: {:?}",
            state(db, domain).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs one statement (setup).
pub async fn exec(db: &Db, sql: &'static str) {
    use sluice_db::diesel_async::RunQueryDsl;
    db.run("test_exec", move |c| sluice_db::sql(sql).execute(c).boxed())
        .await
        .unwrap();
}

/// Asserts that, per object, activities first arrived in increasing order (a re-send of
/// one that already arrived, after a crash, is allowed anywhere).
pub fn assert_in_order_per_object(hits: &[Received]) {
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for h in hits.iter().filter(|h| (200..300).contains(&h.status)) {
        let id = h.activity_id.clone().unwrap_or_default();
        if !seen.insert(id.clone()) {
            continue;
        }
        let n: i64 = id.rsplit('/').next().unwrap().parse().unwrap();
        let obj = object(h).unwrap_or_default();
        if let Some(prev) = last.get(&obj) {
            assert!(n > *prev, "{id} arrived after {prev} for object {obj}");
        }
        last.insert(obj, n);
    }
}

/// Runs one statement built at run time (setup).
pub async fn exec_sql(db: &Db, sql: String) {
    use sluice_db::diesel_async::RunQueryDsl;
    db.run("test_exec", move |c| {
        sluice_db::diesel::sql_query(sql).execute(c).boxed()
    })
    .await
    .unwrap();
}

/// The text column `v` of a one-row query.
pub async fn text(db: &Db, sql: String) -> String {
    use sluice_db::diesel_async::RunQueryDsl;
    #[derive(sluice_db::diesel::QueryableByName)]
    struct V {
        #[diesel(sql_type = sluice_db::diesel::sql_types::Text)]
        v: String,
    }
    db.run("test_text", move |c| {
        sluice_db::diesel::sql_query(sql).get_result::<V>(c).boxed()
    })
    .await
    .unwrap()
    .v
}

/// The `object` of the activity a peer received (as sent; the ordering key in these tests).
pub fn object(r: &Received) -> Option<String> {
    r.json.as_ref()?["object"].as_str().map(str::to_string)
}
