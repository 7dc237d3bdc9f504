//! When sluice first saw each instance (`instance.first_seen`: the row is made at the first
//! contact, or when an admin or the Fediseer sync set a policy for it before any), held in
//! memory for the policy chain's plugins (`instance_age_days`): reloaded every few minutes
//! by the pipeline, never read per activity.
//!
//! At most [`MAX_INSTANCES`] are held, the longest known first: an instance past the bound
//! is one of the newest, and "not known" is what rules for new instances expect of those.

use crate::schema::instance;
use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Instances held at most (about 100 bytes each).
pub const MAX_INSTANCES: i64 = 100_000;

/// Domain (as stored: host[:port]) → when first seen.
pub type FirstSeen = HashMap<String, DateTime<Utc>>;

/// The first-seen times as last loaded (none before the first load).
#[derive(Debug, Default)]
pub struct InstanceAges {
    current: RwLock<Held>,
}

#[derive(Debug, Default, Clone)]
struct Held {
    loaded: Option<Instant>,
    first_seen: Arc<FirstSeen>,
}

impl InstanceAges {
    /// The times held.
    pub fn snapshot(&self) -> Arc<FirstSeen> {
        self.held().first_seen
    }

    /// When they were last loaded.
    pub fn loaded(&self) -> Option<Instant> {
        self.held().loaded
    }

    /// Holds `first_seen` from now on.
    pub fn set(&self, first_seen: FirstSeen) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Held {
            loaded: Some(Instant::now()),
            first_seen: Arc::new(first_seen),
        };
    }

    /// Loads the times again (one round-trip); on failure the ones held stay.
    pub async fn refresh(&self, db: &Db) -> Result<usize, DbError> {
        let rows = db
            .run("instance_first_seen", |c| {
                instance::table
                    .select((instance::domain, instance::first_seen))
                    .order((instance::first_seen, instance::id))
                    .limit(MAX_INSTANCES)
                    .load::<(String, DateTime<Utc>)>(c)
                    .boxed()
            })
            .await?;
        let n = rows.len();
        self.set(rows.into_iter().collect());
        Ok(n)
    }

    fn held(&self) -> Held {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
