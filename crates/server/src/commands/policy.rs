//! `sluice policy ...` and `sluice review ...`: the chain as configured, a dry run of an
//! activity through it, the decisions recorded, and the review queue.

use crate::cli::{PolicyAction, ReviewAction};
use crate::config::Config;
use crate::database::{Database, Purpose};
use anyhow::Context;
use sluice_policy::{Chain, End, Facts, Verdict};
use std::io::Read;

/// The chain `cfg` names, read now (not the one a running `serve` has in force, which is
/// the same unless the file changed since and did not build).
fn chain(cfg: &Config) -> anyhow::Result<Chain> {
    match &cfg.policy_file {
        None => Ok(Chain::default()),
        Some(path) => Chain::load(path, &cfg.urls(), Some(&*crate::policies::extension(cfg)))
            .with_context(|| format!("policy_file {}", path.display())),
    }
}

/// Runs one `policy` subcommand.
pub async fn run(cfg: &Config, action: &PolicyAction) -> anyhow::Result<()> {
    match action {
        PolicyAction::List => list(cfg),
        PolicyAction::Test {
            file,
            author_published,
        } => test(cfg, file, author_published.as_deref()),
        PolicyAction::Decisions { limit } => decisions(cfg, *limit).await,
    }
}

fn list(cfg: &Config) -> anyhow::Result<()> {
    let chain = chain(cfg)?;
    if chain.is_empty() {
        println!("no policies (set `policy_file`; docs/policies.md)");
    }
    for (i, link) in chain.links().iter().enumerate() {
        let scope = if link.scope.is_empty() {
            "everything".to_string()
        } else {
            link.scope.join(", ")
        };
        println!(
            "{:>2}. {:<24} {:<12} on {scope}\n    {}",
            i + 1,
            link.name,
            link.policy.kind(),
            link.policy.describe()
        );
    }
    Ok(())
}

fn test(cfg: &Config, file: &std::path::Path, author: Option<&str>) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?
    };
    let activity: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
    let author_published = author
        .map(|a| chrono::DateTime::parse_from_rfc3339(a).map(|t| t.with_timezone(&chrono::Utc)))
        .transpose()
        .context("--author-published: not an RFC 3339 time")?;
    let facts = Facts {
        author_published,
        ..Facts::now()
    };
    let chain = chain(cfg)?;
    let (outcome, lines) = chain.trace(&activity, &facts);
    for l in &lines {
        let said = match &l.verdict {
            None => format!("- ({})", l.note),
            Some(Verdict::Accept) => "accept".into(),
            Some(Verdict::Reject { rc, reason }) => format!("reject {rc}: {reason}"),
            Some(Verdict::Rewrite { reason, .. }) => format!("rewrite: {reason}"),
            Some(Verdict::NoRelay { reason }) => format!("no_relay: {reason}"),
            Some(Verdict::Hold { reason }) => format!("hold: {reason}"),
        };
        println!("{:<24} {:<12} {said}", l.name, l.kind);
    }
    let end = match &outcome.end {
        End::Accept if outcome.relay => "accepted".to_string(),
        End::Accept => "accepted, not relayed".to_string(),
        End::Reject { rc, reason } => format!("rejected {rc}: {reason}"),
        End::Hold { policy, reason } => format!("held by {policy}: {reason}"),
    };
    println!("=> {end}");
    if let Some(v) = &outcome.rewritten {
        println!("rewritten:\n{}", serde_json::to_string_pretty(v)?);
    }
    Ok(())
}

async fn decisions(cfg: &Config, limit: i64) -> anyhow::Result<()> {
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = async {
        let rows = sluice_db::review::decisions(&database.db, limit).await?;
        if rows.is_empty() {
            println!("no policy decisions recorded");
        }
        for r in rows {
            println!(
                "{:<8} {} {:<16} {:<13} {:<16} {}\n         {}",
                r.journal_id,
                r.decided_at.format("%Y-%m-%d %H:%M:%S"),
                r.policy,
                r.action,
                r.rc.as_deref().unwrap_or("-"),
                r.activity_id,
                r.reason
            );
        }
        Ok(())
    }
    .await;
    super::close(database).await;
    result
}

/// Runs one `review` subcommand.
pub async fn review(cfg: &Config, action: &ReviewAction) -> anyhow::Result<()> {
    use sluice_db::review;
    let database = Database::open(cfg, Purpose::Admin).await?;
    let db = &database.db;
    let result = async {
        let (ids, approve) = match action {
            ReviewAction::List { limit } => {
                let rows = review::list_held(db, *limit).await?;
                if rows.is_empty() {
                    println!("no held activities");
                }
                for r in rows {
                    println!(
                        "{:<8} {} {:<8} {:<16} {}\n         {} {}",
                        r.head.id,
                        r.head.received_at.format("%Y-%m-%d %H:%M:%S"),
                        r.head.kind,
                        r.policy.as_deref().unwrap_or("-"),
                        r.head.activity_id,
                        r.head.actor,
                        r.reason.as_deref().unwrap_or("")
                    );
                }
                return Ok(());
            }
            ReviewAction::Approve { ids } => (ids, true),
            ReviewAction::Reject { ids } => (ids, false),
        };
        let mut missing = Vec::new();
        for id in ids {
            let done = if approve {
                review::approve(db, *id, "approved with sluice review").await?
            } else {
                review::reject(db, *id, "rejected with sluice review").await?
            };
            match (done, approve) {
                (true, true) => println!("{id}: approved, back to pending"),
                (true, false) => println!("{id}: rejected"),
                (false, _) => missing.push(id.to_string()),
            }
        }
        if !missing.is_empty() {
            anyhow::bail!("no held journal row with id {}", missing.join(", "));
        }
        Ok(())
    }
    .await;
    super::close(database).await;
    result
}
