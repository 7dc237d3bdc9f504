//! The event types, and the body a delivery carries: `event`, `id`, `time`, then the
//! event's own fields (docs/webhooks.md lists them per type).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// An event type. The names are what `[[webhook]] events` lists and what `event` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A report (Flag) was stored.
    ReportReceived,
    /// The policy chain rejected an activity.
    ActivityRejected,
    /// An instance we deliver to was marked dead.
    InstanceDead,
    /// A dead instance is delivered to again.
    InstanceRevived,
    /// The pipeline gave up on a journal row.
    JournalFailed,
    /// The policy chain held an activity for review.
    ActivityHeld,
    /// A policy sync (the Fediseer) changed the allow or block entries.
    PolicySynced,
}

impl EventKind {
    /// Every type, in the documentation's order.
    pub const ALL: [EventKind; 7] = [
        EventKind::ReportReceived,
        EventKind::ActivityRejected,
        EventKind::InstanceDead,
        EventKind::InstanceRevived,
        EventKind::JournalFailed,
        EventKind::ActivityHeld,
        EventKind::PolicySynced,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ReportReceived => "report.received",
            EventKind::ActivityRejected => "activity.rejected",
            EventKind::InstanceDead => "instance.dead",
            EventKind::InstanceRevived => "instance.revived",
            EventKind::JournalFailed => "journal.failed",
            EventKind::ActivityHeld => "activity.held",
            EventKind::PolicySynced => "policy.synced",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The JSON body of one delivery: `{"event", "id", "time", ...fields}`. The same event is
/// the same bytes at every attempt, so a receiver may deduplicate by `id`.
pub fn body(kind: &str, id: i64, time: DateTime<Utc>, payload: &str) -> Vec<u8> {
    let mut doc = Map::new();
    doc.insert("event".into(), Value::from(kind));
    doc.insert("id".into(), Value::from(id));
    doc.insert(
        "time".into(),
        Value::from(time.to_rfc3339_opts(SecondsFormat::Micros, true)),
    );
    // The payload is the trigger's jsonb object; its fields never replace the three above.
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(payload) {
        for (k, v) in fields {
            doc.entry(k).or_insert(v);
        }
    }
    serde_json::to_vec(&Value::Object(doc)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("report"), None);
    }

    #[test]
    fn the_envelope_fields_come_first_and_win() {
        let t = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let b = body(
            "journal.failed",
            7,
            t,
            r#"{"id": "forged", "rc": "Internal"}"#,
        );
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["event"], "journal.failed");
        assert_eq!(v["time"], "2026-12-03T10:00:00.000000Z");
        assert_eq!(v["rc"], "Internal");
    }
}
