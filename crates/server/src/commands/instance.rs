//! `sluice instance ...`: the per-instance policy the inbox enforces. Every change bumps
//! `policy_generation`; running processes reload within `inbox_refresh_ms`.

use crate::cli::InstanceAction;
use crate::config::Config;
use crate::database::{Database, Purpose};
use sluice_db::instances::{self, Mode, Policy};
use sluice_trust::host::InstanceHost;

/// The normal form (`sluice_trust::host`) of what an admin types (`Example.ORG.`,
/// `https://example.org/`, `bücher.example`).
pub fn normalize_domain(input: &str) -> anyhow::Result<InstanceHost> {
    Ok(InstanceHost::parse(input)?)
}

/// Runs one `instance` subcommand.
pub async fn run(cfg: &Config, action: &InstanceAction) -> anyhow::Result<()> {
    let database = Database::open(cfg, Purpose::Admin).await?;
    let result = act(&database.db, action).await;
    super::close(database).await;
    result
}

async fn act(db: &sluice_db::Db, action: &InstanceAction) -> anyhow::Result<()> {
    match action {
        InstanceAction::Block { domain, reason } => {
            let d = normalize_domain(domain)?;
            instances::set_policy(db, &d, Policy::Block, reason.as_deref()).await?;
            log_change(db, "block", d.as_str(), reason.as_deref()).await;
            println!("blocked {d}");
        }
        InstanceAction::Allow { domain, reason } => {
            let d = normalize_domain(domain)?;
            instances::set_policy(db, &d, Policy::Allow, reason.as_deref()).await?;
            log_change(db, "allow", d.as_str(), reason.as_deref()).await;
            println!("allowed {d}");
        }
        InstanceAction::Unblock { domain } => {
            let d = normalize_domain(domain)?;
            instances::set_policy(db, &d, Policy::None, None).await?;
            log_change(db, "unblock", d.as_str(), None).await;
            println!("{d}: no policy");
        }
        InstanceAction::Revive { domain } => {
            super::federation::revive(db, normalize_domain(domain)?.as_str()).await?
        }
        InstanceAction::Mode { mode } => {
            let m = if mode == "allowlist" {
                Mode::Allowlist
            } else {
                Mode::Open
            };
            instances::set_mode(db, m).await?;
            log_change(db, "mode", m.as_str(), None).await;
            println!("mode: {}", m.as_str());
        }
        InstanceAction::List => {
            let snap = instances::load_policy(db).await?;
            let mode = snap.mode.unwrap_or(Mode::Open);
            println!("mode: {}", mode.as_str());
            let list = instances::list(db).await?;
            let with_policy: Vec<_> = list.iter().filter(|i| i.policy() != Policy::None).collect();
            if with_policy.is_empty() {
                println!("no instance has a policy");
            }
            for i in with_policy {
                println!("{}", list_line(i));
            }
        }
    }
    Ok(())
}

/// One `instance list` line: domain, policy, when, where it came from (`manual`, or
/// `fediseer` with the feelers or sources that gave it), and the reason.
fn list_line(i: &instances::Instance) -> String {
    let origin = match (i.policy_source.as_str(), &i.policy_source_detail) {
        ("fediseer", Some(detail)) => format!("fediseer ({detail})"),
        (source, _) => source.to_string(),
    };
    format!(
        "{:<32} {:<6} {:<17} {:<10} {}",
        i.domain,
        i.policy,
        i.policy_updated
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default(),
        origin,
        i.policy_reason.as_deref().unwrap_or("")
    )
}

/// Records a change in the log the admin console shows, as made on the command line by
/// the user running it. The change is made already: a failure here is only reported.
async fn log_change(db: &sluice_db::Db, action: &'static str, target: &str, reason: Option<&str>) {
    let who = format!(
        "command line ({})",
        std::env::var("USER").unwrap_or_else(|_| "unknown user".into())
    );
    let logged = sluice_db::admin::log(
        db,
        who,
        action,
        target.to_string(),
        reason.map(str::to_string),
    )
    .await;
    if let Err(e) = logged {
        eprintln!("warning: the change is made but not logged: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_domain;

    #[test]
    fn domains_are_normalized() {
        let n = |s: &str| normalize_domain(s).unwrap().as_str().to_string();
        assert_eq!(n("Example.ORG."), "example.org");
        assert_eq!(n("https://example.org/u/x"), "example.org");
        assert_eq!(n("127.0.0.1:8700"), "127.0.0.1:8700");
        assert!(normalize_domain("not a domain").is_err());
    }
}
