//! Appending to the outbound log: the contract between whoever produces activities to send
//! (the pipeline's Accepts and community Announces, the publish API) and the send queue.
//!
//! An activity is appended once (`outbound_activity`, whose id is the send order; its
//! activity id is unique, and appending a known one does nothing), and its
//! audience is resolved once, at append time, into one `outbound_target` row per remote
//! instance with the inbox(es) to use there: the shared inbox when the recipients have one.
//! Blocked instances and local recipients get no row. Each function here is ONE statement,
//! so callers can pipeline it inside their own transaction (`Conn::run_tx`) and the append is
//! atomic with whatever caused it (e.g. marking the journal row done).
//!
//! Instance matching uses the inbox URL's host in its one normal form
//! (`sluice_trust::host::InstanceHost`, as `instance.domain` is stored), computed here in
//! Rust and passed in: `https://Peer.example.:443/inbox` and `https://peer.example/inbox` are
//! one instance, under one policy. An inbox without a normal form is not sent to.
//!
//! Protected boosts: a relay to a community's followers whose embedded activity's actor is
//! on an origin in allow-list mode (`origin_federation`, read off the hot path by
//! `sluice_origins`) targets only the follower instances that origin allows (and the
//! origin itself), in the same statement (docs/security.md, "Protected boosts").

use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sluice_trust::host::InstanceHost;

/// Who receives an outbound activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every remote follower (accepted) of this local community, one delivery per instance.
    FollowersOf(String),
    /// These inboxes, grouped by instance.
    Inboxes(Vec<String>),
}

/// One activity to append.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    /// The activity's id (on our domain).
    pub activity_id: String,
    /// The local actor that signs it.
    pub actor_ap_id: String,
    /// The activity JSON, as it will be sent.
    pub raw: serde_json::Value,
    /// What it is about, when known (deliveries about one object keep their order).
    pub object_ap_id: Option<String>,
    /// Its recipients.
    pub audience: Audience,
}

/// What an append produced for one activity.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Appended {
    /// Outbound id (send order).
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The activity id.
    #[diesel(sql_type = Text)]
    pub activity_id: String,
    /// Instances it will be delivered to.
    #[diesel(sql_type = BigInt)]
    pub targets: i64,
}

const APPEND_TO_FOLLOWERS: &str = "\
WITH input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::text[])
        WITH ORDINALITY AS t(activity_id, actor_ap_id, raw, object_ap_id, community_ap_id, origin, ord)
), ins AS (
    INSERT INTO outbound_activity (activity_id, actor_ap_id, raw, object_ap_id)
    SELECT activity_id, actor_ap_id, raw, object_ap_id FROM input ORDER BY ord
    ON CONFLICT (activity_id) DO NOTHING
    RETURNING id, activity_id
), tgt AS (
    INSERT INTO outbound_target (outbound_id, instance_id, inboxes)
    SELECT ins.id, p.instance_id, array_agg(DISTINCT COALESCE(p.shared_inbox, p.inbox))
    FROM ins
    JOIN input ON input.activity_id = ins.activity_id
    JOIN community c ON c.ap_id = input.community_ap_id AND c.local
    JOIN community_follow f ON f.community_id = c.id AND f.state = 'accepted'
    JOIN person p ON p.id = f.person_id AND NOT p.local
    JOIN instance i ON i.id = p.instance_id AND i.policy <> 'block'
    LEFT JOIN origin_federation o ON o.allowlist AND o.origin = input.origin
    WHERE o.origin IS NULL OR i.domain = o.origin
       OR EXISTS (SELECT 1 FROM origin_allowed a WHERE a.origin = o.origin AND a.domain = i.domain)
    GROUP BY ins.id, p.instance_id
    RETURNING outbound_id
)
SELECT ins.id, ins.activity_id, (SELECT count(*) FROM tgt WHERE tgt.outbound_id = ins.id) AS targets
FROM ins ORDER BY ins.id";

const APPEND_TO_INBOXES: &str = "\
WITH input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[], $4::text[]) WITH ORDINALITY
        AS t(activity_id, actor_ap_id, raw, object_ap_id, ord)
), ins AS (
    INSERT INTO outbound_activity (activity_id, actor_ap_id, raw, object_ap_id)
    SELECT activity_id, actor_ap_id, raw, object_ap_id FROM input ORDER BY ord
    ON CONFLICT (activity_id) DO NOTHING
    RETURNING id, activity_id
), tg AS (
    SELECT * FROM UNNEST($5::bigint[], $6::text[], $7::text[]) AS g(ord, inbox, domain)
), newi AS (
    INSERT INTO instance (domain)
    SELECT DISTINCT domain FROM tg
    ON CONFLICT (domain) DO NOTHING
    RETURNING id, domain
), inst AS (
    SELECT id, domain FROM newi
    UNION ALL
    SELECT i.id, i.domain FROM instance i WHERE i.domain IN (SELECT domain FROM tg) AND i.policy <> 'block'
), tgt AS (
    INSERT INTO outbound_target (outbound_id, instance_id, inboxes)
    SELECT ins.id, inst.id, array_agg(DISTINCT tg.inbox)
    FROM ins
    JOIN input ON input.activity_id = ins.activity_id
    JOIN tg ON tg.ord = input.ord
    JOIN inst ON inst.domain = tg.domain
    GROUP BY ins.id, inst.id
    RETURNING outbound_id
)
SELECT ins.id, ins.activity_id, (SELECT count(*) FROM tgt WHERE tgt.outbound_id = ins.id) AS targets
FROM ins ORDER BY ins.id";

struct Columns {
    ids: Vec<String>,
    actors: Vec<String>,
    raws: Vec<serde_json::Value>,
    objects: Vec<Option<String>>,
}

fn columns<'a>(items: impl Iterator<Item = &'a NewOutbound>) -> Columns {
    let mut c = Columns {
        ids: vec![],
        actors: vec![],
        raws: vec![],
        objects: vec![],
    };
    for i in items {
        c.ids.push(i.activity_id.clone());
        c.actors.push(i.actor_ap_id.clone());
        c.raws.push(i.raw.clone());
        c.objects.push(i.object_ap_id.clone());
    }
    c
}

/// The normal form of a URL's host (`instance.domain`), or `None` when it has none.
fn host_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    InstanceHost::from_url(&url)
        .ok()
        .map(|h| h.as_str().to_owned())
}

/// The host of the actor of the activity a relay embeds: the origin whose allow-list may
/// narrow where the relay goes (`None` when it names no actor, or the relay embeds none).
fn relayed_origin(raw: &serde_json::Value) -> Option<String> {
    let actor = raw.get("object")?.get("actor")?;
    let id = actor.get("id").unwrap_or(actor).as_str()?;
    host_of(id)
}

/// Appends `items` in order, one statement per audience kind (at most two round-trips'
/// worth of statements, pipelined when the caller polls them together). Returns what was
/// appended, in send order. An id already in the log is skipped (activity ids are unique:
/// a replayed write appends nothing, so nothing is sent twice).
pub async fn append(
    c: &AsyncPgConnection,
    items: &[NewOutbound],
) -> diesel::QueryResult<Vec<Appended>> {
    send(c, items, Empty::Skip).await
}

/// Prepares both append statements on this connection by sending them with empty inputs
/// (they change nothing), so that callers counting round-trips later see no one-time
/// prepare (the pipeline warms its connection this way).
pub async fn warm(c: &AsyncPgConnection) -> diesel::QueryResult<()> {
    send(c, &[], Empty::Send).await.map(|_| ())
}

/// What `send` does with an audience kind that has no items.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Empty {
    /// Sends nothing for it.
    Skip,
    /// Sends its statement anyway, with no rows (to prepare it).
    Send,
}

async fn send(
    c: &AsyncPgConnection,
    items: &[NewOutbound],
    empty: Empty,
) -> diesel::QueryResult<Vec<Appended>> {
    let followers: Vec<&NewOutbound> = items
        .iter()
        .filter(|i| matches!(i.audience, Audience::FollowersOf(_)))
        .collect();
    let direct: Vec<&NewOutbound> = items
        .iter()
        .filter(|i| matches!(i.audience, Audience::Inboxes(_)))
        .collect();

    let to_followers = async {
        if followers.is_empty() && empty == Empty::Skip {
            return Ok(vec![]);
        }
        let cols = columns(followers.iter().copied());
        let communities: Vec<String> = followers
            .iter()
            .map(|i| match &i.audience {
                Audience::FollowersOf(c) => c.clone(),
                Audience::Inboxes(_) => String::new(),
            })
            .collect();
        let origins: Vec<Option<String>> =
            followers.iter().map(|i| relayed_origin(&i.raw)).collect();
        crate::sql(APPEND_TO_FOLLOWERS)
            .bind::<Array<Text>, _>(cols.ids)
            .bind::<Array<Text>, _>(cols.actors)
            .bind::<Array<Jsonb>, _>(cols.raws)
            .bind::<Array<Nullable<Text>>, _>(cols.objects)
            .bind::<Array<Text>, _>(communities)
            .bind::<Array<Nullable<Text>>, _>(origins)
            .load::<Appended>(&mut &*c)
            .await
    };
    let to_inboxes = async {
        if direct.is_empty() && empty == Empty::Skip {
            return Ok(vec![]);
        }
        let cols = columns(direct.iter().copied());
        let (mut ords, mut inboxes, mut domains) = (Vec::new(), Vec::new(), Vec::new());
        for (n, item) in direct.iter().enumerate() {
            if let Audience::Inboxes(list) = &item.audience {
                for inbox in list {
                    let Some(domain) = host_of(inbox) else {
                        tracing::warn!(%inbox, "inbox without an instance host: not sent to");
                        continue;
                    };
                    ords.push(n as i64 + 1);
                    inboxes.push(inbox.clone());
                    domains.push(domain);
                }
            }
        }
        crate::sql(APPEND_TO_INBOXES)
            .bind::<Array<Text>, _>(cols.ids)
            .bind::<Array<Text>, _>(cols.actors)
            .bind::<Array<Jsonb>, _>(cols.raws)
            .bind::<Array<Nullable<Text>>, _>(cols.objects)
            .bind::<Array<BigInt>, _>(ords)
            .bind::<Array<Text>, _>(inboxes)
            .bind::<Array<Text>, _>(domains)
            .load::<Appended>(&mut &*c)
            .await
    };
    let (mut a, b) = futures::try_join!(to_followers, to_inboxes)?;
    a.extend(b);
    a.sort_by_key(|x| x.id);
    Ok(a)
}

/// The outbound id of the activity `activity_id` when it is in the log (one round-trip; the
/// publish API asks before working out what a publication does here).
pub async fn logged(db: &crate::Db, activity_id: &str) -> Result<Option<i64>, crate::DbError> {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    use diesel::OptionalExtension;
    use futures::FutureExt;
    let activity_id = activity_id.to_string();
    let found = db
        .run("outbound_logged", move |c| {
            async move {
                crate::sql(
                    "SELECT id FROM outbound_activity WHERE activity_id = $1 ORDER BY id LIMIT 1",
                )
                .bind::<Text, _>(&activity_id)
                .get_result::<Found>(c)
                .await
                .optional()
            }
            .boxed()
        })
        .await?;
    Ok(found.map(|f| f.id))
}

/// What [`append_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOnce {
    /// Appended now.
    Appended(Appended),
    /// An activity with this id is already in the log (its outbound id); nothing appended.
    Duplicate(i64),
    /// `FollowersOf` names no local community; nothing appended.
    NoSuchCommunity,
}

/// Appends one activity unless an activity with the same id is already in the log (the
/// publish API's idempotency). A transaction-scoped advisory lock on the activity id makes
/// two concurrent identical calls append once. Three round-trips: lock and look up, append,
/// commit.
pub async fn append_once(db: &crate::Db, item: NewOutbound) -> Result<AppendOnce, crate::DbError> {
    append_once_applying(db, item, crate::ingest::Changes::default()).await
}

/// [`append_once`], writing `local` (what the activity does to the local tables, as the
/// pipeline writes it; its `outbound` and `journal` are ignored) in the same transaction,
/// only when the activity is appended: publishing twice applies once.
pub async fn append_once_applying(
    db: &crate::Db,
    item: NewOutbound,
    mut local: crate::ingest::Changes,
) -> Result<AppendOnce, crate::DbError> {
    local.outbound.clear();
    local.journal.clear();
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        id: Option<i64>,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        community: bool,
    }
    use futures::FutureExt;
    let community = match &item.audience {
        Audience::FollowersOf(c) => Some(c.clone()),
        Audience::Inboxes(_) => None,
    };
    let mut conn = db.get().await?;
    conn.run_tx("outbound_append_once", move |c| {
        async move {
            // Pipelined: the lookup runs once the lock is held, so it sees a concurrent
            // publisher's row (it committed before releasing the lock).
            let lock = crate::sql("SELECT pg_advisory_xact_lock(hashtextextended($1, 5831))")
                .bind::<Text, _>(&item.activity_id)
                .execute(&mut &*c);
            let lookup = crate::sql(
                "SELECT (SELECT id FROM outbound_activity WHERE activity_id = $1 ORDER BY id LIMIT 1) AS id, \
                        ($2::text IS NULL OR EXISTS (SELECT 1 FROM community WHERE ap_id = $3 AND local)) AS community",
            )
            .bind::<Text, _>(&item.activity_id)
            .bind::<Nullable<Text>, _>(&community)
            .bind::<Nullable<Text>, _>(&community)
            .get_result::<Found>(&mut &*c);
            let (_, found) = futures::try_join!(lock, lookup)?;
            if let Some(id) = found.id {
                return Ok(AppendOnce::Duplicate(id));
            }
            if !found.community {
                return Ok(AppendOnce::NoSuchCommunity);
            }
            let (mut appended, ()) = futures::try_join!(
                append(c, std::slice::from_ref(&item)),
                crate::ingest::write::write(c, &local)
            )?;
            appended
                .pop()
                .map(AppendOnce::Appended)
                .ok_or(diesel::result::Error::NotFound)
        }
        .boxed()
    })
    .await
}
