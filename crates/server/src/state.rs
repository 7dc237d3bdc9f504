//! What every HTTP handler and background task shares.

use crate::config::Config;
use sluice_apub::LocalUrls;
use sluice_db::Db;
use sluice_db::actors::LocalKey;

/// Shared application state (behind `web::Data`, an `Arc`).
pub struct AppState {
    /// The configuration.
    pub cfg: Config,
    /// Id builder for our domain.
    pub urls: LocalUrls,
    /// The database.
    pub db: Db,
    /// The instance actor's key pair (signs our fetches).
    pub instance_key: LocalKey,
    /// The inbox receiver (its routes are registered from it).
    pub inbox: sluice_inbox::Inbox,
    /// The send queue's local APIs (publish, federation status).
    pub queue_api: sluice_queue::Api,
    /// The admin console's settings (its routes are registered from them).
    pub admin: sluice_admin::Settings,
}
