//! Fixtures and documents: the Lemmy fixtures (hosts kept, `https` made `http` so that ids
//! are consistent and fetchable from the test peer), and actor/content documents built
//! from the fixtures' object templates.

use serde_json::{Value, json};

/// The fixture hosts; their ids are rewritten to `http://`.
const HOSTS: &[&str] = &[
    "ds9.lemmy.ml",
    "enterprise.lemmy.ml",
    "voyager.lemmy.ml",
    "lemmy-alpha",
];

fn read(rel: &str) -> String {
    let p = sluice_testkit::lemmy_fixtures().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn http(text: String) -> String {
    let mut t = text;
    for h in HOSTS {
        t = t.replace(&format!("https://{h}"), &format!("http://{h}"));
    }
    t
}

/// An activity fixture (`activities/<rel>`), ids made `http://`.
pub fn activity(rel: &str) -> Value {
    serde_json::from_str(&http(read(&format!("activities/{rel}")))).unwrap()
}

fn object(rel: &str) -> Value {
    serde_json::from_str(&read(&format!("objects/{rel}"))).unwrap()
}

fn origin(id: &str) -> String {
    let u = url::Url::parse(id).unwrap();
    u.origin().ascii_serialization()
}

fn last_segment(id: &str) -> String {
    id.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// A Person document (from `objects/person.json`).
pub fn person(id: &str) -> Value {
    let mut p = object("person.json");
    p["id"] = json!(id);
    p["preferredUsername"] = json!(last_segment(id));
    p["inbox"] = json!(format!("{id}/inbox"));
    p["outbox"] = json!(format!("{id}/outbox"));
    p["endpoints"]["sharedInbox"] = json!(format!("{}/inbox", origin(id)));
    p["publicKey"]["id"] = json!(format!("{id}#main-key"));
    p["publicKey"]["owner"] = json!(id);
    p
}

/// A Group document (from `objects/group.json`).
pub fn group(id: &str) -> Value {
    let mut g = object("group.json");
    g["id"] = json!(id);
    g["preferredUsername"] = json!(last_segment(id));
    g["inbox"] = json!(format!("{id}/inbox"));
    g["outbox"] = json!(format!("{id}/outbox"));
    g["followers"] = json!(format!("{id}/followers"));
    g["attributedTo"] = json!(format!("{id}/moderators"));
    g["featured"] = json!(format!("{id}/featured"));
    g["endpoints"]["sharedInbox"] = json!(format!("{}/inbox", origin(id)));
    g["publicKey"]["id"] = json!(format!("{id}#main-key"));
    g["publicKey"]["owner"] = json!(id);
    g.as_object_mut().unwrap().remove("updated");
    g
}

/// A Page (post) document (from `objects/page.json`).
pub fn page(id: &str, author: &str, community: &str) -> Value {
    let mut p = object("page.json");
    p["id"] = json!(id);
    p["attributedTo"] = json!(author);
    p["to"] = json!([community, sluice_apub::PUBLIC]);
    p["audience"] = json!(community);
    let m = p.as_object_mut().unwrap();
    m.remove("tag");
    m.remove("context");
    p
}

/// A Note (comment) document (from `objects/comment.json`).
pub fn note(id: &str, author: &str, in_reply_to: &str, community: &str) -> Value {
    let mut n = object("comment.json");
    n["id"] = json!(id);
    n["attributedTo"] = json!(author);
    n["to"] = json!([community, sluice_apub::PUBLIC]);
    n["cc"] = json!([]);
    n["audience"] = json!(community);
    n["inReplyTo"] = json!(in_reply_to);
    let m = n.as_object_mut().unwrap();
    m.remove("tag");
    m.remove("context");
    m.remove("updated");
    n
}

fn activity_id(actor: &str, kind: &str) -> String {
    format!(
        "{}/activities/{kind}/{:016x}",
        origin(actor),
        rand::random::<u64>()
    )
}

/// `kind` (`Create`, `Update`) of `object` by `actor`.
pub fn wrap(kind: &str, actor: &str, object: Value) -> Value {
    json!({
        "id": activity_id(actor, &kind.to_lowercase()),
        "type": kind,
        "actor": actor,
        "to": [sluice_apub::PUBLIC],
        "cc": object.get("audience").cloned().into_iter().collect::<Vec<_>>(),
        "object": object,
    })
}

/// A Like (`score` 1) or Dislike (-1).
pub fn vote(actor: &str, object: &str, score: i32) -> Value {
    let kind = if score > 0 { "Like" } else { "Dislike" };
    json!({
        "id": activity_id(actor, &kind.to_lowercase()),
        "type": kind,
        "actor": actor,
        "object": object,
    })
}

/// An Undo of `inner` by its actor.
pub fn undo(inner: &Value) -> Value {
    let actor = inner["actor"].as_str().unwrap();
    json!({
        "id": activity_id(actor, "undo"),
        "type": "Undo",
        "actor": actor,
        "object": inner,
    })
}

/// A Delete of `object` by `actor`.
pub fn delete(actor: &str, object: &str) -> Value {
    json!({
        "id": activity_id(actor, "delete"),
        "type": "Delete",
        "actor": actor,
        "to": [sluice_apub::PUBLIC],
        "object": object,
    })
}

/// A Follow of `community` by `actor`.
pub fn follow(actor: &str, community: &str) -> Value {
    json!({
        "id": activity_id(actor, "follow"),
        "type": "Follow",
        "actor": actor,
        "to": [community],
        "object": community,
    })
}
