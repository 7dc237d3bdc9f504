//! The JSON-LD `@context` sluice sends: ActivityStreams, the security vocabulary (for
//! `publicKey`) and the Lemmy terms its documents use.

use serde_json::{Value, json};

/// The `@context` value of every document we serve or send.
pub fn default_context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {
            "lemmy": "https://join-lemmy.org/ns#",
            "sensitive": "as:sensitive",
            "stickied": "lemmy:stickied",
            "postingRestrictedToMods": "lemmy:postingRestrictedToMods",
            "featured": { "@id": "lemmy:featured", "@type": "@id" },
            "moderators": { "@id": "lemmy:moderators", "@type": "@id" }
        }
    ])
}
