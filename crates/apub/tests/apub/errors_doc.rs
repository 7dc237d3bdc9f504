//! docs/errors.md and the `Rc` list must agree: every code documented with its status, and
//! nothing documented that the code does not have.

use sluice_apub::Rc;
use std::collections::BTreeMap;

/// code -> HTTP status (`None` for the journal-only codes, documented with `—`).
fn documented() -> BTreeMap<String, Option<u16>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md"))
        .expect("docs/errors.md");
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let status = cells.get(2)?;
            let status = if *status == "—" {
                None
            } else {
                Some(status.parse().ok()?)
            };
            Some((code.to_string(), status))
        })
        .collect()
}

#[test]
fn every_code_is_documented_with_its_status() {
    let doc = documented();
    for rc in Rc::ALL {
        assert_eq!(
            doc.get(rc.code()),
            Some(&rc.status()),
            "{} (HTTP {:?}) not in docs/errors.md as such",
            rc.code(),
            rc.status()
        );
    }
    let known: Vec<&str> = Rc::ALL.iter().map(|r| r.code()).collect();
    for code in doc.keys() {
        assert!(
            known.contains(&code.as_str()),
            "docs/errors.md documents {code}, which the code does not have"
        );
    }
}
