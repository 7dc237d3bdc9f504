//! Activities the pipeline sends, through the outbound log: the Accept that answers a
//! Follow of a local community, and the Announce by which a local community relays what its
//! remote members sent it (embedding the activity, as Lemmy's communities do, so followers
//! need no fetch).
//!
//! Ids are derived from what they answer or relay (a hash), so processing the same journal
//! row twice cannot mint two different activities for it.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sluice_apub::context::default_context;
use sluice_apub::{LocalUrls, PUBLIC};
use sluice_db::outbound::{Audience, NewOutbound};

fn unique(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The activity as embedded: without its own `@context` (the envelope carries one).
fn embedded(raw: &Value) -> Value {
    let mut v = raw.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("@context");
    }
    v
}

/// The community's Accept of `follow` (the Follow as received), to the follower's inbox.
pub(crate) fn accept(
    urls: &LocalUrls,
    community: &str,
    follow: &Value,
    follower: &str,
    inbox: String,
) -> NewOutbound {
    let follow_id = follow.get("id").and_then(Value::as_str).unwrap_or_default();
    let id = urls.activity("accept", &unique(&[community, follow_id]));
    NewOutbound {
        raw: json!({
            "@context": default_context(),
            "id": id,
            "type": "Accept",
            "actor": community,
            "to": [follower],
            "object": embedded(follow),
        }),
        activity_id: id,
        actor_ap_id: community.to_string(),
        object_ap_id: Some(follow_id.to_string()),
        audience: Audience::Inboxes(vec![inbox]),
    }
}

/// The community's Announce of `activity` (as received) to every follower instance.
pub(crate) fn announce(urls: &LocalUrls, community: &str, activity: &Value) -> NewOutbound {
    let inner_id = activity
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = urls.activity("announce", &unique(&[community, inner_id]));
    // What it is about, so deliveries about one object keep their order (an Undo(Like) is
    // about the liked post, like the Like).
    let object = sluice_apub::vocab::innermost_object(activity);
    NewOutbound {
        raw: json!({
            "@context": default_context(),
            "id": id,
            "type": "Announce",
            "actor": community,
            "to": [PUBLIC],
            "cc": [LocalUrls::sub(community, "followers")],
            "object": embedded(activity),
        }),
        activity_id: id,
        actor_ap_id: community.to_string(),
        object_ap_id: object,
        audience: Audience::FollowersOf(community.to_string()),
    }
}
