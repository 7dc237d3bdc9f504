//! Instances (remote and our own) and the per-instance policy.

use crate::schema::{instance, policy_generation};
use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;
use sluice_trust::host::InstanceHost;
use sluice_trust::instances::{self as decision, Policies, Rule};

/// Policy for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Nothing set: accepted in open mode, refused in allow-list mode.
    None,
    /// Listed as allowed (matters in allow-list mode).
    Allow,
    /// Refused, always.
    Block,
}

impl Policy {
    /// The column value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Allow => "allow",
            Policy::Block => "block",
        }
    }

    /// The decision table's rule (`None` is no entry).
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Policy::None => None,
            Policy::Allow => Some(Rule::Allow),
            Policy::Block => Some(Rule::Block),
        }
    }

    /// From the column value.
    pub fn parse(s: &str) -> Policy {
        match s {
            "allow" => Policy::Allow,
            "block" => Policy::Block,
            _ => Policy::None,
        }
    }
}

/// Federation mode: open (all but blocked) or allow-list (only allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every instance not blocked is accepted.
    Open,
    /// Only instances with policy `allow` are accepted.
    Allowlist,
}

impl Mode {
    /// From the column value (anything but `allowlist` is open).
    pub fn parse(s: &str) -> Mode {
        if s == "allowlist" {
            Mode::Allowlist
        } else {
            Mode::Open
        }
    }

    /// The column value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::Allowlist => "allowlist",
        }
    }
}

/// One instance row.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = instance)]
pub struct Instance {
    /// Row id.
    pub id: i64,
    /// host[:port].
    pub domain: String,
    /// Software name from nodeinfo.
    pub software: Option<String>,
    /// Software version.
    pub version: Option<String>,
    /// Shared inbox, when known.
    pub shared_inbox: Option<String>,
    /// First contact.
    pub first_seen: DateTime<Utc>,
    /// Last activity received.
    pub last_seen: Option<DateTime<Utc>>,
    /// `none`, `allow` or `block`.
    pub policy: String,
    /// Why the policy was set.
    pub policy_reason: Option<String>,
    /// When it was set.
    pub policy_updated: Option<DateTime<Utc>>,
    /// Who set it: `manual` (an admin) or `fediseer` (the sync).
    pub policy_source: String,
    /// For a synced entry: which feelers or sources gave it.
    pub policy_source_detail: Option<String>,
}

impl Instance {
    /// The parsed policy.
    pub fn policy(&self) -> Policy {
        Policy::parse(&self.policy)
    }
}

/// Every instance's policy and the mode, as the receiver holds them in memory.
#[derive(Debug, Clone, Default)]
pub struct PolicySnapshot {
    /// Bumped by each change.
    pub generation: i64,
    /// Open or allow-list.
    pub mode: Option<Mode>,
    /// Domains with a policy other than `none`.
    pub entries: Vec<(String, Policy)>,
}

impl PolicySnapshot {
    /// The decision table every stage decides with (see [`decision_table`]).
    pub fn policies(&self) -> Policies {
        decision_table(
            self.mode.unwrap_or(Mode::Open),
            self.entries.iter().map(|(d, p)| (d.as_str(), *p)),
        )
    }
}

/// The one way stored policy rows become the in-memory decision table
/// (`sluice_trust::instances::Policies`): the inbox, the pipeline and the send queue all
/// build theirs here, from the same rows, so they decide alike. A row whose domain has no
/// normal form (stored before hosts were normalised) is skipped with a warning.
pub fn decision_table<'a>(
    mode: Mode,
    entries: impl IntoIterator<Item = (&'a str, Policy)>,
) -> Policies {
    let mode = match mode {
        Mode::Open => decision::Mode::Open,
        Mode::Allowlist => decision::Mode::Allowlist,
    };
    let rules = entries
        .into_iter()
        .filter_map(|(d, p)| p.rule().map(|r| (d, r)));
    let (table, skipped) = Policies::from_entries(mode, rules);
    for e in skipped {
        tracing::warn!(error = %e, "instance policy entry ignored");
    }
    table
}

/// Returns the id of the instance `domain`, creating its row if needed (inside an
/// operation the caller runs).
pub async fn upsert_id(conn: &mut AsyncPgConnection, domain: &str) -> QueryResult<i64> {
    diesel::insert_into(instance::table)
        .values(instance::domain.eq(domain))
        .on_conflict(instance::domain)
        .do_update()
        .set(instance::domain.eq(diesel::upsert::excluded(instance::domain)))
        .returning(instance::id)
        .get_result(conn)
        .await
}

/// All known instances, by domain.
pub async fn list(db: &Db) -> Result<Vec<Instance>, DbError> {
    db.run("instance_list", |c| {
        instance::table
            .select(Instance::as_select())
            .order(instance::domain)
            .load(c)
            .boxed()
    })
    .await
}

/// Sets an instance's policy and bumps the policy generation so running processes reload.
/// The host is stored in its normal form (`sluice instance block X.Example.` stores
/// `x.example`), the form every stage compares. The entry becomes a manual one, which the
/// Fediseer sync never changes (`none` included: it hands the row back to the sync).
pub async fn set_policy(
    db: &Db,
    domain: &InstanceHost,
    policy: Policy,
    reason: Option<&str>,
) -> Result<(), DbError> {
    let (domain, reason) = (domain.as_str().to_string(), reason.map(str::to_string));
    db.get()
        .await?
        .run("instance_set_policy", move |c| {
            async move {
                let id = upsert_id(c, &domain).await?;
                diesel::update(instance::table.find(id))
                    .set((
                        instance::policy.eq(policy.as_str()),
                        instance::policy_reason.eq(reason),
                        instance::policy_updated.eq(diesel::dsl::now),
                        instance::policy_source.eq("manual"),
                        instance::policy_source_detail.eq(None::<String>),
                    ))
                    .execute(c)
                    .await?;
                bump_generation(c, None).await
            }
            .boxed()
        })
        .await
}

/// Switches between open and allow-list mode.
pub async fn set_mode(db: &Db, mode: Mode) -> Result<(), DbError> {
    db.run("instance_set_mode", move |c| {
        bump_generation(c, Some(mode)).boxed()
    })
    .await
}

pub(crate) async fn bump_generation(
    c: &mut AsyncPgConnection,
    mode: Option<Mode>,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE policy_generation SET generation = generation + 1, mode = COALESCE($1, mode)",
    )
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(mode.map(|m| m.as_str()))
    .execute(c)
    .await
    .map(|_| ())
}

/// The current policy generation (cheap: polled to notice changes).
pub async fn policy_generation(db: &Db) -> Result<i64, DbError> {
    db.run("policy_generation", |c| {
        policy_generation::table
            .select(policy_generation::generation)
            .first(c)
            .boxed()
    })
    .await
}

/// Loads every policy entry and the mode.
pub async fn load_policy(db: &Db) -> Result<PolicySnapshot, DbError> {
    db.run("policy_load", |c| {
        async move {
            let c: &AsyncPgConnection = c;
            let (gen_mode, entries) = futures::try_join!(
                policy_generation::table
                    .select((policy_generation::generation, policy_generation::mode))
                    .first::<(i64, String)>(&mut &*c),
                instance::table
                    .filter(instance::policy.ne("none"))
                    .select((instance::domain, instance::policy))
                    .load::<(String, String)>(&mut &*c),
            )?;
            Ok(PolicySnapshot {
                generation: gen_mode.0,
                mode: Some(Mode::parse(&gen_mode.1)),
                entries: entries
                    .into_iter()
                    .map(|(d, p)| (d, Policy::parse(&p)))
                    .collect(),
            })
        }
        .boxed()
    })
    .await
}
