//! The webhooks: each URL resolved (outside dev_mode a name resolving only to private
//! addresses fails, as `serve` refuses it), and what the deliveries table says (a delivery
//! failed in the last day, or one being retried, is a warning: the inbox works without
//! webhooks).

use super::report::{Report, Status};
use crate::config::Config;

/// Adds one `webhook` check per configured webhook.
pub async fn check(cfg: &Config, db: &sluice_db::Db, report: &mut Report) {
    let settings = cfg.webhooks();
    let rows = sluice_db::webhooks::status(db).await.unwrap_or_default();
    for hook in &settings.hooks {
        let name = "webhook";
        if let Err(e) = sluice_webhooks::destination::check_resolved(&hook.url, cfg.dev_mode).await
        {
            report.push(
                name,
                Status::Fail,
                format!("{}: {e}; `serve` refuses it.", hook.name),
            );
            continue;
        }
        let (status, message) = match rows.iter().find(|r| r.name == hook.name) {
            None => (
                Status::Ok,
                format!("{} ({}): nothing sent yet.", hook.name, hook.url),
            ),
            Some(r) if r.next_retry_at.is_some() || failed_lately(r) => (
                Status::Warn,
                format!(
                    "{} ({}): {} pending, {} delivered, {} failed; last error: {} \
                     (`sluice webhook status`).",
                    hook.name,
                    hook.url,
                    r.pending,
                    r.delivered,
                    r.failed,
                    r.last_error.as_deref().unwrap_or("-")
                ),
            ),
            Some(r) => (
                Status::Ok,
                format!(
                    "{} ({}): {} pending, {} delivered.",
                    hook.name, hook.url, r.pending, r.delivered
                ),
            ),
        };
        report.push(name, status, message);
    }
}

/// A delivery was given up in the last day (older failures stay counted in `failed` but no
/// longer make a warning).
fn failed_lately(r: &sluice_db::webhooks::WebhookStatus) -> bool {
    r.failed > 0
        && r.last_failure_at
            .is_some_and(|t| chrono::Utc::now() - t < chrono::Duration::days(1))
}
