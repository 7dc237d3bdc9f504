//! Where a policy rule came from, in words: a manual rule names who set it, when, and why;
//! a rule synced from the Fediseer names the feelers or sources that gave it and their
//! reasons.

use sluice_db::admin::PolicyRule;

/// `Fediseer: censured by a.example, b.example (spam)` or
/// `manual, by alice, 2026-12-03 14:00 UTC: reason`.
pub(crate) fn words(rule: &PolicyRule) -> String {
    let mut out = match rule.policy_source.as_str() {
        "fediseer" => format!(
            "Fediseer: {}",
            rule.policy_source_detail.as_deref().unwrap_or("synced")
        ),
        other => other.to_string(),
    };
    if rule.policy_source == "fediseer" {
        if let Some(reason) = &rule.policy_reason {
            out.push_str(&format!(" ({reason})"));
        }
        return out;
    }
    if let Some(by) = &rule.policy_by {
        out.push_str(&format!(", by {by}"));
    }
    if let Some(at) = rule.policy_updated {
        out.push_str(&format!(", {} UTC", at.format("%Y-%m-%d %H:%M")));
    }
    if let Some(reason) = &rule.policy_reason {
        out.push_str(&format!(": {reason}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::words;
    use chrono::TimeZone;
    use sluice_db::admin::PolicyRule;

    fn rule(
        source: &str,
        detail: Option<&str>,
        reason: Option<&str>,
        by: Option<&str>,
    ) -> PolicyRule {
        PolicyRule {
            policy: "block".into(),
            policy_reason: reason.map(Into::into),
            policy_updated: None,
            policy_source: source.into(),
            policy_source_detail: detail.map(Into::into),
            policy_by: by.map(Into::into),
        }
    }

    #[test]
    fn synced_and_manual_rules_say_where_they_came_from() {
        let synced = rule(
            "fediseer",
            Some("censured by a.example, b.example"),
            Some("spam"),
            None,
        );
        assert_eq!(
            words(&synced),
            "Fediseer: censured by a.example, b.example (spam)"
        );
        let mut manual = rule("manual", None, Some("harassment"), Some("alice"));
        manual.policy_updated = chrono::Utc.with_ymd_and_hms(2026, 12, 3, 14, 0, 0).single();
        assert_eq!(
            words(&manual),
            "manual, by alice, 2026-12-03 14:00 UTC: harassment"
        );
        assert_eq!(words(&rule("manual", None, None, None)), "manual");
    }
}
