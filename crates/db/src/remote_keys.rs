//! Public keys of remote signers (`remote_key`): the database tier of signature verification.
//!
//! Statement-level functions take a shared `&AsyncPgConnection` so callers can pipeline
//! them with other statements inside one [`crate::Conn::run`].

use chrono::{DateTime, Utc};
use diesel::OptionalExtension;
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct RemoteKey {
    /// The `keyId` signers put in their signatures.
    #[diesel(sql_type = Text)]
    pub key_id: String,
    /// The actor that owns the key.
    #[diesel(sql_type = Text)]
    pub owner_ap_id: String,
    /// SPKI or PKCS#1 PEM, as the owner published it.
    #[diesel(sql_type = Text)]
    pub public_key_pem: String,
    /// When it was last fetched from its owner.
    #[diesel(sql_type = Timestamptz)]
    pub fetched_at: DateTime<Utc>,
}

/// The key with this id, if stored.
pub async fn get(c: &AsyncPgConnection, key_id: &str) -> diesel::QueryResult<Option<RemoteKey>> {
    crate::sql(
        "SELECT key_id, owner_ap_id, public_key_pem, fetched_at FROM remote_key WHERE key_id = $1",
    )
    .bind::<Text, _>(key_id.to_string())
    .get_result::<RemoteKey>(&mut &*c)
    .await
    .optional()
}

/// Stores (or replaces, after a key rotation) a freshly fetched key; `fetched_at` is now.
pub async fn store(
    c: &AsyncPgConnection,
    key_id: &str,
    owner_ap_id: &str,
    public_key_pem: &str,
) -> diesel::QueryResult<()> {
    crate::sql(
        "INSERT INTO remote_key (key_id, owner_ap_id, public_key_pem, fetched_at) \
         VALUES ($1, $2, $3, now()) \
         ON CONFLICT (key_id) DO UPDATE SET owner_ap_id = EXCLUDED.owner_ap_id, \
           public_key_pem = EXCLUDED.public_key_pem, fetched_at = EXCLUDED.fetched_at",
    )
    .bind::<Text, _>(key_id.to_string())
    .bind::<Text, _>(owner_ap_id.to_string())
    .bind::<Text, _>(public_key_pem.to_string())
    .execute(&mut &*c)
    .await
    .map(|_| ())
}

/// Records that we heard from `domain` (and its shared inbox when the actor document named
/// one): creates the instance row if needed, keeps an existing shared inbox otherwise.
pub async fn seen_instance(
    c: &AsyncPgConnection,
    domain: &str,
    shared_inbox: Option<&str>,
) -> diesel::QueryResult<()> {
    crate::sql(
        "INSERT INTO instance (domain, shared_inbox, last_seen) VALUES ($1, $2, now()) \
         ON CONFLICT (domain) DO UPDATE SET \
           shared_inbox = COALESCE(EXCLUDED.shared_inbox, instance.shared_inbox), \
           last_seen = EXCLUDED.last_seen",
    )
    .bind::<Text, _>(domain.to_string())
    .bind::<Nullable<Text>, _>(shared_inbox.map(str::to_string))
    .execute(&mut &*c)
    .await
    .map(|_| ())
}
