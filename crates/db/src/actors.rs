//! Local actors (communities, persons, the instance actor) and their key pairs.
//!
//! Ids are built by the caller (the server knows the domain and scheme); this module only
//! stores and reads them.

use crate::schema::{community, local_key, person};
use crate::{Db, DbError, instances};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;

diesel::define_sql_function! {
    /// SQL `lower()`: names match case-insensitively, as webfinger lookups expect.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A community row (local or remote).
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = community)]
pub struct Community {
    /// Row id.
    pub id: i64,
    /// ActivityPub id.
    pub ap_id: String,
    /// Owning instance.
    pub instance_id: i64,
    /// Lives here.
    pub local: bool,
    /// Short name (`!name@host`).
    pub name: String,
    /// Display title.
    pub title: String,
    /// Description (HTML).
    pub summary: Option<String>,
    /// Icon URL.
    pub icon: Option<String>,
    /// Banner URL.
    pub banner: Option<String>,
    /// Inbox URL.
    pub inbox: String,
    /// Shared inbox of its instance.
    pub shared_inbox: Option<String>,
    /// Followers collection.
    pub followers_url: Option<String>,
    /// Moderators collection.
    pub moderators_url: Option<String>,
    /// Featured posts collection.
    pub featured_url: Option<String>,
    /// Public key (PEM).
    pub public_key_pem: Option<String>,
    /// Adult content.
    pub nsfw: bool,
    /// Only moderators may post.
    pub posting_restricted_to_mods: bool,
    /// Deleted by its owner.
    pub deleted: bool,
    /// Removed by an admin.
    pub removed: bool,
    /// Creation time.
    pub published: Option<DateTime<Utc>>,
    /// Last update.
    pub updated: Option<DateTime<Utc>>,
    /// Last fetched or refreshed.
    pub fetched_at: DateTime<Utc>,
}

/// A person row (local or remote).
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = person)]
pub struct Person {
    /// Row id.
    pub id: i64,
    /// ActivityPub id.
    pub ap_id: String,
    /// Owning instance.
    pub instance_id: i64,
    /// Lives here.
    pub local: bool,
    /// preferredUsername.
    pub name: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Bio (HTML).
    pub summary: Option<String>,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// Banner URL.
    pub banner: Option<String>,
    /// Inbox URL.
    pub inbox: String,
    /// Shared inbox.
    pub shared_inbox: Option<String>,
    /// Public key (PEM).
    pub public_key_pem: Option<String>,
    /// Automated account.
    pub bot: bool,
    /// Banned by its home instance.
    pub banned: bool,
    /// Account deleted.
    pub deleted: bool,
    /// Creation time.
    pub published: Option<DateTime<Utc>>,
    /// Last profile update.
    pub updated: Option<DateTime<Utc>>,
    /// Last fetched or refreshed.
    pub fetched_at: DateTime<Utc>,
}

/// Everything needed to create a local actor; URLs are built by the caller.
#[derive(Debug, Clone)]
pub struct NewLocalActor {
    /// Our own domain (host[:port]), for the instance row.
    pub domain: String,
    /// Short name.
    pub name: String,
    /// Title or display name.
    pub title: Option<String>,
    /// ActivityPub id.
    pub ap_id: String,
    /// Its inbox.
    pub inbox: String,
    /// Our shared inbox.
    pub shared_inbox: String,
    /// Followers collection (communities).
    pub followers_url: Option<String>,
    /// Moderators collection (communities).
    pub moderators_url: Option<String>,
    /// Featured collection (communities).
    pub featured_url: Option<String>,
    /// Key id (`<ap_id>#main-key`).
    pub key_id: String,
    /// Public key PEM.
    pub public_key_pem: String,
    /// Private key PEM.
    pub private_key_pem: String,
}

/// A local key pair.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = local_key)]
pub struct LocalKey {
    /// Owner.
    pub actor_ap_id: String,
    /// keyId.
    pub key_id: String,
    /// Public key PEM.
    pub public_key_pem: String,
    /// Private key PEM.
    pub private_key_pem: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

async fn insert_key(c: &mut AsyncPgConnection, a: &NewLocalActor) -> QueryResult<()> {
    diesel::insert_into(local_key::table)
        .values((
            local_key::actor_ap_id.eq(&a.ap_id),
            local_key::key_id.eq(&a.key_id),
            local_key::public_key_pem.eq(&a.public_key_pem),
            local_key::private_key_pem.eq(&a.private_key_pem),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

/// Creates a local community and its key pair in one transaction. Fails with a unique
/// violation when the name is taken.
pub async fn create_local_community(db: &Db, a: NewLocalActor) -> Result<Community, DbError> {
    db.run("community_create_local", move |c| {
        async move {
            use diesel_async::AsyncConnection;
            c.transaction(async |c| {
                let instance_id = instances::upsert_id(c, &a.domain).await?;
                insert_key(c, &a).await?;
                diesel::insert_into(community::table)
                    .values((
                        community::ap_id.eq(&a.ap_id),
                        community::instance_id.eq(instance_id),
                        community::local.eq(true),
                        community::name.eq(&a.name),
                        community::title.eq(a.title.as_deref().unwrap_or(&a.name)),
                        community::inbox.eq(&a.inbox),
                        community::shared_inbox.eq(&a.shared_inbox),
                        community::followers_url.eq(&a.followers_url),
                        community::moderators_url.eq(&a.moderators_url),
                        community::featured_url.eq(&a.featured_url),
                        community::public_key_pem.eq(&a.public_key_pem),
                        community::published.eq(diesel::dsl::now),
                    ))
                    .returning(Community::as_returning())
                    .get_result(c)
                    .await
            })
            .await
        }
        .boxed()
    })
    .await
}

/// Creates a local person and its key pair in one transaction.
pub async fn create_local_person(db: &Db, a: NewLocalActor) -> Result<Person, DbError> {
    db.run("person_create_local", move |c| {
        async move {
            use diesel_async::AsyncConnection;
            c.transaction(async |c| {
                let instance_id = instances::upsert_id(c, &a.domain).await?;
                insert_key(c, &a).await?;
                diesel::insert_into(person::table)
                    .values((
                        person::ap_id.eq(&a.ap_id),
                        person::instance_id.eq(instance_id),
                        person::local.eq(true),
                        person::name.eq(&a.name),
                        person::display_name.eq(&a.title),
                        person::inbox.eq(&a.inbox),
                        person::shared_inbox.eq(&a.shared_inbox),
                        person::public_key_pem.eq(&a.public_key_pem),
                        person::published.eq(diesel::dsl::now),
                    ))
                    .returning(Person::as_returning())
                    .get_result(c)
                    .await
            })
            .await
        }
        .boxed()
    })
    .await
}

/// Local communities, by name.
pub async fn list_local_communities(db: &Db) -> Result<Vec<Community>, DbError> {
    db.run("community_list_local", |c| {
        community::table
            .filter(community::local.eq(true))
            .order(community::name)
            .select(Community::as_select())
            .load(c)
            .boxed()
    })
    .await
}

/// A local community by name (case-insensitive, as webfinger looks them up).
pub async fn local_community(db: &Db, name: &str) -> Result<Option<Community>, DbError> {
    let name = name.to_lowercase();
    db.run("community_by_name", move |c| {
        community::table
            .filter(community::local.eq(true))
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = ")
                    .bind::<diesel::sql_types::Text, _>(name),
            )
            .select(Community::as_select())
            .first(c)
            .boxed()
    })
    .await
    .map(Some)
    .or_else(not_found_is_none)
}

/// A local person by name (case-insensitive).
pub async fn local_person(db: &Db, name: &str) -> Result<Option<Person>, DbError> {
    let name = name.to_lowercase();
    db.run("person_by_name", move |c| {
        person::table
            .filter(person::local.eq(true))
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = ")
                    .bind::<diesel::sql_types::Text, _>(name),
            )
            .select(Person::as_select())
            .first(c)
            .boxed()
    })
    .await
    .map(Some)
    .or_else(not_found_is_none)
}

/// The key pair of a local actor.
pub async fn local_key(db: &Db, actor_ap_id: &str) -> Result<Option<LocalKey>, DbError> {
    let id = actor_ap_id.to_string();
    db.run("local_key_by_actor", move |c| {
        local_key::table
            .find(id)
            .select(LocalKey::as_select())
            .first(c)
            .boxed()
    })
    .await
    .map(Some)
    .or_else(not_found_is_none)
}

/// Stores a key pair for `actor_ap_id` unless it has one; returns the stored pair (the
/// existing one when two processes race on first start).
pub async fn insert_key_if_absent(
    db: &Db,
    actor_ap_id: &str,
    key_id: &str,
    public_key_pem: String,
    private_key_pem: String,
) -> Result<LocalKey, DbError> {
    let (id, kid) = (actor_ap_id.to_string(), key_id.to_string());
    db.run("local_key_insert", move |c| {
        async move {
            diesel::insert_into(local_key::table)
                .values((
                    local_key::actor_ap_id.eq(&id),
                    local_key::key_id.eq(&kid),
                    local_key::public_key_pem.eq(&public_key_pem),
                    local_key::private_key_pem.eq(&private_key_pem),
                ))
                .on_conflict_do_nothing()
                .execute(c)
                .await?;
            local_key::table
                .find(&id)
                .select(LocalKey::as_select())
                .first(c)
                .await
        }
        .boxed()
    })
    .await
}

/// Maps "no row" to `None`.
pub(crate) fn not_found_is_none<T>(e: DbError) -> Result<Option<T>, DbError> {
    match e {
        DbError::Query(diesel::result::Error::NotFound) => Ok(None),
        e => Err(e),
    }
}

#[derive(diesel::QueryableByName)]
struct Usage {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    users: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    posts: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    comments: i64,
}

/// Local users, posts and comments (for nodeinfo), in one statement.
pub async fn usage(db: &Db) -> Result<(i64, i64, i64), DbError> {
    let u: Usage = db
        .run("nodeinfo_usage", |c| {
            crate::sql(
                "SELECT (SELECT count(*) FROM person WHERE local) AS users, \
                        (SELECT count(*) FROM post WHERE local) AS posts, \
                        (SELECT count(*) FROM comment WHERE local) AS comments",
            )
            .get_result(c)
            .boxed()
        })
        .await?;
    Ok((u.users, u.posts, u.comments))
}
