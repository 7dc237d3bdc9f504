//! Where a policy rule came from, in words: a manual rule names who set it, when, and why;
//! a rule synced from the Fediseer names the feelers or sources that gave it and their
//! reasons.

use chrono::{DateTime, Utc};

/// A policy's origin as the instance row records it.
pub(crate) struct Origin<'a> {
    /// `manual` or `fediseer`.
    pub source: &'a str,
    /// For a synced rule: `censured by a.example, b.example`, `endorsed by f.example`.
    pub detail: Option<&'a str>,
    /// The rule's reason.
    pub reason: Option<&'a str>,
    /// For a manual rule: who set it (from the change log; absent for rules older than it).
    pub by: Option<&'a str>,
    /// When it was set.
    pub at: Option<DateTime<Utc>>,
}

impl Origin<'_> {
    /// `Fediseer: censured by a.example, b.example (spam)` or
    /// `manual, by alice, 2026-12-03 14:00 UTC: reason`.
    pub(crate) fn words(&self) -> String {
        let mut out = match self.source {
            "fediseer" => format!("Fediseer: {}", self.detail.unwrap_or("synced")),
            other => other.to_string(),
        };
        if self.source == "fediseer" {
            if let Some(reason) = self.reason {
                out.push_str(&format!(" ({reason})"));
            }
            return out;
        }
        if let Some(by) = self.by {
            out.push_str(&format!(", by {by}"));
        }
        if let Some(at) = self.at {
            out.push_str(&format!(", {} UTC", at.format("%Y-%m-%d %H:%M")));
        }
        if let Some(reason) = self.reason {
            out.push_str(&format!(": {reason}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Origin;
    use chrono::TimeZone;

    #[test]
    fn synced_and_manual_rules_say_where_they_came_from() {
        let synced = Origin {
            source: "fediseer",
            detail: Some("censured by a.example, b.example"),
            reason: Some("spam"),
            by: None,
            at: None,
        };
        assert_eq!(
            synced.words(),
            "Fediseer: censured by a.example, b.example (spam)"
        );
        let manual = Origin {
            source: "manual",
            detail: None,
            reason: Some("harassment"),
            by: Some("alice"),
            at: chrono::Utc.with_ymd_and_hms(2026, 12, 3, 14, 0, 0).single(),
        };
        assert_eq!(
            manual.words(),
            "manual, by alice, 2026-12-03 14:00 UTC: harassment"
        );
        let bare = Origin {
            source: "manual",
            detail: None,
            reason: None,
            by: None,
            at: None,
        };
        assert_eq!(bare.words(), "manual");
    }
}
