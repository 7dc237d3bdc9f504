//! The pipeline's reading of a journaled activity (and of fetched documents): JSON into
//! `Activity` / `Object`, then every accessor the pipeline calls on the result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sluice_apub::vocab::{
    self, Activity, AnnounceObject, MAX_REASON_CHARS, MAX_TITLE_CHARS, Object, ObjectRef, Verb,
    text,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = text::strip_html(s);
        let max = data.first().map_or(0, |b| *b as usize);
        assert!(text::truncate_chars(s, max).chars().count() <= max.max(1));
    }
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = vocab::innermost_object(&v);
    let _ = vocab::collection_items(&v);
    if let Ok(a) = Activity::parse(&v) {
        activity(&a);
    }
    if let Ok(o) = Object::parse(&v) {
        object(&o);
    }
});

fn activity(a: &Activity) {
    let _ = a.object_id();
    let _ = vocab::host(&a.actor);
    if let Some(r) = a.reason() {
        assert!(r.chars().count() <= MAX_REASON_CHARS);
    }
    match &a.verb {
        Verb::Create(o) | Verb::Update(o) | Verb::Delete { object: o, .. } => object_ref(o),
        Verb::Announce(AnnounceObject::Activity(inner)) => activity(inner),
        Verb::Announce(AnnounceObject::Object(o)) => object(o),
        _ => {}
    }
}

fn object_ref(o: &ObjectRef) {
    let _ = o.id();
    if let ObjectRef::Embedded(o) = o {
        object(o);
    }
}

fn object(o: &Object) {
    let _ = o.id();
    let _ = o.kind_name();
    if let Object::Content(c) = o {
        let _ = c.role();
        let _ = c.author();
        let _ = c.version();
        let _ = c.community_candidates();
        assert!(c.title().chars().count() <= MAX_TITLE_CHARS);
    }
}
