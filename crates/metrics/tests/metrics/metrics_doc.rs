//! docs/metrics.md and the registry agree: every family that `/metrics` can expose is
//! documented with its type and labels, and nothing is documented that is not registered.
//!
//! The registry's `gather()` renders a vector only after a label set has been used, so the
//! comparison uses `Metrics::catalog()`, built from the registered collectors themselves.

use sluice_metrics::{Family, HOST_LABEL_CAP, global};
use std::collections::BTreeMap;

/// One documented row: type and labels.
#[derive(Debug, PartialEq)]
struct Row {
    kind: String,
    labels: Vec<String>,
}

fn documented() -> BTreeMap<String, Row> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .expect("docs/metrics.md");
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let Some(name) = cells.first().and_then(|c| c.strip_prefix("`sluice_")) else {
            continue;
        };
        let name = format!("sluice_{}", name.trim_end_matches('`'));
        assert!(
            cells.len() >= 5,
            "row for {name} needs type, labels, unit, meaning: {line}"
        );
        let labels = match cells[2] {
            "—" | "-" | "" => vec![],
            l => l
                .split(',')
                .map(|x| x.trim().trim_matches('`').to_string())
                .collect(),
        };
        let row = Row {
            kind: cells[1].to_string(),
            labels,
        };
        assert!(
            rows.insert(name.clone(), row).is_none(),
            "{name} documented twice"
        );
    }
    rows
}

#[test]
fn every_registered_family_is_documented_and_nothing_else() {
    let docs = documented();
    let catalog: Vec<Family> = global().catalog();
    assert!(
        catalog.len() >= 30,
        "the catalog lists every family, used or not"
    );
    for f in &catalog {
        let row = docs
            .get(&f.name)
            .unwrap_or_else(|| panic!("{} is registered but not in docs/metrics.md", f.name));
        assert_eq!(row.kind, f.kind, "type of {} in docs/metrics.md", f.name);
        assert_eq!(
            row.labels, f.labels,
            "labels of {} in docs/metrics.md",
            f.name
        );
    }
    for name in docs.keys() {
        assert!(
            catalog.iter().any(|f| &f.name == name),
            "docs/metrics.md documents {name}, which is not registered"
        );
    }
}

#[test]
fn names_follow_the_conventions() {
    for f in global().catalog() {
        assert!(f.name.starts_with("sluice_"), "{}", f.name);
        if f.kind == "counter" {
            assert!(
                f.name.ends_with("_total"),
                "counter {} must end in _total",
                f.name
            );
        } else {
            assert!(
                !f.name.ends_with("_total"),
                "only counters end in _total: {}",
                f.name
            );
        }
        for banned in ["id", "url", "actor", "activity", "path"] {
            assert!(
                !f.labels.iter().any(|l| l == banned),
                "{} has an unbounded label {banned}",
                f.name
            );
        }
    }
}

#[test]
fn rendered_families_are_a_subset_of_the_catalog() {
    let m = global();
    // Use a label set so that a vector renders, then compare with the catalog.
    m.db_query_duration_seconds
        .with_label_values(&["doc_test"])
        .observe(0.001);
    let catalog = m.catalog();
    let body = m.render();
    let mut seen = 0;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            let f = catalog
                .iter()
                .find(|f| f.name == name)
                .expect("rendered family in catalog");
            assert_eq!(f.kind, kind);
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "build_info and the used histogram render:\n{body}"
    );
}

#[test]
fn the_host_label_cap_is_documented() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .expect("docs/metrics.md");
    assert!(
        text.contains(&format!("the first {HOST_LABEL_CAP} distinct hosts"))
            && text.contains("`other`"),
        "docs/metrics.md must state the host label cap ({HOST_LABEL_CAP}) and the `other` value"
    );
}
