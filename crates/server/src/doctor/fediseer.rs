//! The Fediseer sync's health, from the row every sync updates (so doctor sees what every
//! process sharing the database did): when it last applied the lists, whether the last
//! attempt failed and why.

use super::report::{Report, Status};
use crate::config::Config;
use chrono::{DateTime, Utc};
use sluice_db::synced_policy::SyncStatus;
use std::time::Duration;

/// Adds the `fediseer` check when the sync is configured.
pub async fn check(cfg: &Config, db: &sluice_db::Db, report: &mut Report) {
    let settings = cfg.fediseer();
    if !settings.enabled() {
        return;
    }
    let (status, message) = match sluice_db::synced_policy::status(db).await {
        Ok(s) => verdict(&s, settings.interval, Utc::now()),
        Err(e) => (
            Status::Warn,
            format!("cannot read the sync's state ({e}); are migrations pending?"),
        ),
    };
    report.push("fediseer", status, message);
}

/// The plain-words verdict. Never `Fail`: the inbox works without the sync, on the lists
/// of the last good one.
pub fn verdict(s: &SyncStatus, interval: Duration, now: DateTime<Utc>) -> (Status, String) {
    let ago = |t: DateTime<Utc>| {
        let mins = (now - t).num_minutes().max(0);
        if mins < 120 {
            format!("{mins} min ago")
        } else {
            format!("{} h ago", mins / 60)
        }
    };
    let counts = format!("{} allowed, {} blocked by the sync", s.allows, s.blocks);
    let failed_last = match (s.last_failure, s.last_success) {
        (Some(f), Some(ok)) => f > ok,
        (Some(_), None) => true,
        _ => false,
    };
    if failed_last {
        let since = match s.last_success {
            Some(ok) => format!(
                "the lists of the last good sync ({}) stay in force",
                ago(ok)
            ),
            None => "no sync has succeeded yet, so nothing is synced".to_string(),
        };
        let error = s.last_error.as_deref().unwrap_or("unknown error");
        return (
            Status::Warn,
            format!("the last Fediseer sync failed: {error}; {since} ({counts})."),
        );
    }
    match s.last_success {
        None => (
            Status::Warn,
            "the Fediseer sync has not run yet (`sluice serve` syncs at start; \
             `sluice fediseer sync` syncs now)."
                .into(),
        ),
        Some(ok) if (now - ok).to_std().unwrap_or_default() > interval * 3 => (
            Status::Warn,
            format!(
                "the last Fediseer sync was {}, more than three intervals ago: is `sluice \
                 serve` running? ({counts})",
                ago(ok)
            ),
        ),
        Some(ok) => (
            Status::Ok,
            format!("last Fediseer sync {}: {counts}.", ago(ok)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(success: Option<i64>, failure: Option<i64>) -> SyncStatus {
        let at = |m: i64| Utc::now() - chrono::Duration::minutes(m);
        SyncStatus {
            started: None,
            last_success: success.map(at),
            last_failure: failure.map(at),
            last_error: failure.map(|_| "GET https://fediseer.com/x: HTTP 503".into()),
            allows: 3,
            blocks: 1,
        }
    }

    #[test]
    fn verdicts_read_plainly() {
        let hour = Duration::from_secs(3600);
        let now = Utc::now();
        let (s, m) = verdict(&status(Some(5), None), hour, now);
        assert_eq!(s, Status::Ok, "{m}");
        assert!(m.contains("3 allowed, 1 blocked"), "{m}");
        let (s, m) = verdict(&status(Some(90), Some(2)), hour, now);
        assert_eq!(s, Status::Warn);
        assert!(m.contains("HTTP 503") && m.contains("stay in force"), "{m}");
        let (s, m) = verdict(&status(None, Some(2)), hour, now);
        assert_eq!(s, Status::Warn);
        assert!(m.contains("nothing is synced"), "{m}");
        let (s, m) = verdict(&status(Some(4 * 60), None), hour, now);
        assert_eq!(s, Status::Warn);
        assert!(m.contains("three intervals"), "{m}");
        assert_eq!(verdict(&status(None, None), hour, now).0, Status::Warn);
    }
}
