//! Rules on time: content published long ago (Akkoma's ObjectAgePolicy: a backfill or a
//! replayed old post should not reach a community's followers as news) and accounts
//! created a moment ago (the usual shape of spam waves).

use super::{OnMatch, Options};
use crate::subject::Subject;
use crate::verdict::Verdict;
use crate::{Facts, Policy};
use chrono::TimeDelta;
use serde::Deserialize;
use sluice_apub::Rc;

/// The longest age a rule may name: ten years, in days.
const MAX_DAYS: f64 = 3650.0;

fn days(what: &str, d: f64) -> Result<TimeDelta, String> {
    if !(0.0..=MAX_DAYS).contains(&d) {
        return Err(format!("{what} must be from 0 to {MAX_DAYS} days"));
    }
    TimeDelta::try_milliseconds((d * 86_400_000.0) as i64)
        .ok_or_else(|| format!("{what}: too large"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectAgeConfig {
    max_age_days: f64,
    #[serde(default = "no_relay")]
    action: OnMatch,
}

fn no_relay() -> OnMatch {
    OnMatch::NoRelay
}

/// Content older than `max_age`.
#[derive(Debug)]
pub struct ObjectAge {
    max_age: TimeDelta,
    action: OnMatch,
}

impl ObjectAge {
    pub(crate) fn build(options: Options) -> Result<ObjectAge, String> {
        let c: ObjectAgeConfig = options.parse()?;
        Ok(ObjectAge {
            max_age: days("max_age_days", c.max_age_days)?,
            action: c.action,
        })
    }
}

impl Policy for ObjectAge {
    fn kind(&self) -> &'static str {
        "object_age"
    }

    fn decide(&self, s: &Subject<'_>, facts: &Facts) -> Verdict {
        // Only content is old or new; a vote on an old post is today's vote.
        if s.object().is_none() || !matches!(s.kind(), "Create" | "Update") {
            return Verdict::Accept;
        }
        let Some(published) = s.published() else {
            return Verdict::Accept;
        };
        let age = facts.now.signed_duration_since(published);
        if age <= self.max_age {
            return Verdict::Accept;
        }
        self.action.verdict(
            Rc::PolicyObjectAge,
            format!(
                "published {} days ago (more than {})",
                age.num_days(),
                self.max_age.num_days()
            ),
        )
    }

    fn describe(&self) -> String {
        format!(
            "{:?} content older than {} h",
            self.action,
            self.max_age.num_hours()
        )
        .to_lowercase()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccountConfig {
    min_age_days: f64,
    #[serde(default = "hold")]
    action: OnMatch,
    #[serde(default = "creations")]
    activities: Vec<String>,
}

fn hold() -> OnMatch {
    OnMatch::Hold
}

fn creations() -> Vec<String> {
    vec!["Create".into()]
}

/// Activities of accounts younger than `min_age` (by the account's `published`).
#[derive(Debug)]
pub struct NewAccount {
    min_age: TimeDelta,
    action: OnMatch,
    activities: Vec<String>,
}

impl NewAccount {
    pub(crate) fn build(options: Options) -> Result<NewAccount, String> {
        let c: NewAccountConfig = options.parse()?;
        if c.activities.len() > 64 {
            return Err("activities: at most 64 types".into());
        }
        Ok(NewAccount {
            min_age: days("min_age_days", c.min_age_days)?,
            action: c.action,
            activities: c.activities,
        })
    }
}

impl Policy for NewAccount {
    fn kind(&self) -> &'static str {
        "new_account"
    }

    fn decide(&self, s: &Subject<'_>, facts: &Facts) -> Verdict {
        if !self.activities.iter().any(|k| k == s.kind()) {
            return Verdict::Accept;
        }
        // An account whose creation date is unknown (not said, not fetched yet) is let
        // through: the rule cannot tell, and refusing every such actor would refuse
        // software that does not publish it.
        let Some(created) = facts.author_published else {
            return Verdict::Accept;
        };
        let age = facts.now.signed_duration_since(created);
        if age >= self.min_age {
            return Verdict::Accept;
        }
        self.action.verdict(
            Rc::PolicyNewAccount,
            format!(
                "the account {} is {} h old (less than {} days)",
                s.author().unwrap_or("?"),
                age.num_hours().max(0),
                self.min_age.num_days()
            ),
        )
    }

    fn describe(&self) -> String {
        format!(
            "{:?} {} of accounts younger than {} h",
            self.action,
            self.activities.join("/"),
            self.min_age.num_hours()
        )
        .to_lowercase()
    }
}
