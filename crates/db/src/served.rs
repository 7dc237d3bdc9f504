//! What sluice serves about its local actors, each ONE statement on an index: whether a
//! local name exists (the inbox's lookup of a name it does not know yet), the followers
//! count and moderators of a local community, and an outbound activity by its id.

use crate::{Db, DbError};
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Text};
use diesel_async::RunQueryDsl;
use futures::FutureExt;

/// Which kind of local actor a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalKind {
    /// A community (`/c/NAME`).
    Community,
    /// A user (`/u/NAME`).
    Person,
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    found: bool,
}

/// True when a local actor of `kind` is named `name` (case-insensitive), on the unique
/// index of local names.
pub async fn local_name_exists(db: &Db, kind: LocalKind, name: &str) -> Result<bool, DbError> {
    let name = name.to_lowercase();
    let text = match kind {
        LocalKind::Community => {
            "SELECT EXISTS (SELECT 1 FROM community WHERE local AND lower(name) = $1) AS found"
        }
        LocalKind::Person => {
            "SELECT EXISTS (SELECT 1 FROM person WHERE local AND lower(name) = $1) AS found"
        }
    };
    let row: Exists = db
        .run("local_name_exists", move |c| {
            crate::sql(text).bind::<Text, _>(name).get_result(c).boxed()
        })
        .await?;
    Ok(row.found)
}

/// A local community's followers collection: its id and the accepted followers.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Followers {
    /// The community's ActivityPub id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// Accepted follows (local and remote followers alike; pending ones are not counted).
    #[diesel(sql_type = BigInt)]
    pub accepted: i64,
}

/// The followers count of the local community `name`, `None` when there is none.
pub async fn followers(db: &Db, name: &str) -> Result<Option<Followers>, DbError> {
    let name = name.to_lowercase();
    db.run("community_followers", move |c| {
        crate::sql(
            "SELECT c.ap_id, (SELECT count(*) FROM community_follow f \
                 WHERE f.community_id = c.id AND f.state = 'accepted') AS accepted \
             FROM community c WHERE c.local AND lower(c.name) = $1",
        )
        .bind::<Text, _>(name)
        .get_results(c)
        .boxed()
    })
    .await
    .map(|rows: Vec<Followers>| rows.into_iter().next())
}

/// A local community's moderators collection.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct Moderators {
    /// The community's ActivityPub id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// The moderators' ActivityPub ids, longest-serving first, at most the requested limit.
    #[diesel(sql_type = Array<Text>)]
    pub moderators: Vec<String>,
}

/// The moderators of the local community `name` (at most `limit`), `None` when there is no
/// such community.
pub async fn moderators(db: &Db, name: &str, limit: i64) -> Result<Option<Moderators>, DbError> {
    let name = name.to_lowercase();
    db.run("community_moderators", move |c| {
        crate::sql(
            "SELECT c.ap_id, ARRAY(SELECT p.ap_id FROM community_moderator m \
                 JOIN person p ON p.id = m.person_id WHERE m.community_id = c.id \
                 ORDER BY m.published, p.id LIMIT $1) AS moderators \
             FROM community c WHERE c.local AND lower(c.name) = $2",
        )
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(name)
        .get_results(c)
        .boxed()
    })
    .await
    .map(|rows: Vec<Moderators>| rows.into_iter().next())
}

#[derive(diesel::QueryableByName)]
struct Raw {
    #[diesel(sql_type = Jsonb)]
    raw: serde_json::Value,
}

/// The outbound activity with this id, as sent (`None`: sluice sent no such activity), on
/// the unique index of outbound activity ids.
pub async fn outbound_activity(
    db: &Db,
    activity_id: &str,
) -> Result<Option<serde_json::Value>, DbError> {
    let id = activity_id.to_string();
    db.run("outbound_by_activity_id", move |c| {
        crate::sql("SELECT raw FROM outbound_activity WHERE activity_id = $1")
            .bind::<Text, _>(id)
            .get_results(c)
            .boxed()
    })
    .await
    .map(|rows: Vec<Raw>| rows.into_iter().next().map(|r| r.raw))
}
