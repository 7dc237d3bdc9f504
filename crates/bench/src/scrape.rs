//! sluice's own counters, read from its `/metrics` before and after a phase.
//!
//! Only the Prometheus text format's sample lines are read (`name{labels} value`); the few
//! families the report needs are summed by name and label. A 40-line reader keeps the
//! benchmark free of a parser crate for an exporter whose output we control.

use std::collections::HashMap;

/// A sample's labels.
type Labels = Vec<(String, String)>;

/// One scrape: every sample, by name, with its labels.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    samples: HashMap<String, Vec<(Labels, f64)>>,
}

impl Snapshot {
    /// Parses the text exposition format.
    pub fn parse(text: &str) -> Snapshot {
        let mut samples: HashMap<String, Vec<(Labels, f64)>> = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = match line.rsplit_once(' ') {
                Some(p) => p,
                None => continue,
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, labels(rest.trim_end_matches('}'))),
                None => (series, Vec::new()),
            };
            samples
                .entry(name.to_string())
                .or_default()
                .push((labels, value));
        }
        Snapshot { samples }
    }

    /// Sum of `name`'s samples whose labels satisfy `keep`.
    pub fn sum_where(&self, name: &str, keep: impl Fn(&[(String, String)]) -> bool) -> f64 {
        self.samples
            .get(name)
            .map(|v| v.iter().filter(|(l, _)| keep(l)).map(|(_, x)| x).sum())
            .unwrap_or(0.0)
    }

    /// Sum of all of `name`'s samples.
    pub fn sum(&self, name: &str) -> f64 {
        self.sum_where(name, |_| true)
    }

    /// Sum of `name`'s samples with label `key` = `value`.
    pub fn with(&self, name: &str, key: &str, value: &str) -> f64 {
        self.sum_where(name, |l| l.iter().any(|(k, v)| k == key && v == value))
    }

    /// Sum of `name`'s samples whose label `key` starts with `prefix`.
    pub fn with_prefix(&self, name: &str, key: &str, prefix: &str) -> f64 {
        self.sum_where(name, |l| {
            l.iter().any(|(k, v)| k == key && v.starts_with(prefix))
        })
    }
}

/// `a="x",b="y"` (values without escaped quotes: sluice's labels are names and codes).
fn labels(s: &str) -> Labels {
    s.split("\",")
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

/// Fetches and parses `<base>/metrics`.
pub async fn scrape(client: &reqwest::Client, base: &str) -> crate::Result<Snapshot> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(Snapshot::parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_by_name_and_label() {
        let s = Snapshot::parse(
            "# HELP x y\n# TYPE sluice_db_roundtrips_total counter\n\
             sluice_db_roundtrips_total{query=\"ingest_claim\"} 10\n\
             sluice_db_roundtrips_total{query=\"ingest_write\"} 20\n\
             sluice_db_roundtrips_total{query=\"journal_append\"} 5\n\
             sluice_inbox_ack_db_roundtrips_sum 4.5\n\
             sluice_pipeline_activities_total{kind=\"Announce\",result=\"done\"} 7\n",
        );
        assert_eq!(s.sum("sluice_db_roundtrips_total"), 35.0);
        assert_eq!(
            s.with_prefix("sluice_db_roundtrips_total", "query", "ingest_"),
            30.0
        );
        assert_eq!(
            s.with("sluice_pipeline_activities_total", "result", "done"),
            7.0
        );
        assert_eq!(s.sum("sluice_inbox_ack_db_roundtrips_sum"), 4.5);
        assert_eq!(s.sum("missing"), 0.0);
    }
}
