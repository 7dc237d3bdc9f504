//! The inbox's first look at a body: the byte scan (depth, `\u0000`) and the envelope parse,
//! in the request path's order. Besides "no panic", it checks that the scan is a sound gate:
//! whatever serde_json reads from a body the scan let through nests no deeper than the limit
//! and holds no NUL character (PostgreSQL's jsonb refuses it, failing a whole batch).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sluice_inbox::envelope;

const MAX_DEPTH: usize = 8;

fuzz_target!(|data: &[u8]| {
    let scanned = envelope::scan(data, MAX_DEPTH);
    let parsed = envelope::parse(data);
    if let Ok(env) = &parsed {
        assert!(matches!(env.id.scheme(), "http" | "https") && env.id.has_host());
        assert!(matches!(env.actor.scheme(), "http" | "https") && env.actor.has_host());
        assert!(!env.kind.is_empty());
        let _ = env.actor_host();
    }
    if scanned.is_ok()
        && let Ok(v) = serde_json::from_slice::<Value>(data)
    {
        assert!(
            depth(&v) <= MAX_DEPTH,
            "the scan let a deeper document through"
        );
        assert!(!has_nul(&v), "the scan let a NUL character through");
    }
});

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
