//! The keys of `ingest_memory`, which remembers an Undo or Delete that arrived before what
//! it undoes or deletes, by meaning (Lemmy's Undo of a vote or follow wraps a new activity
//! whose id is not the original's). An original arriving after a remembered Undo with a
//! smaller journal id is superseded; a remembered Delete refuses a late Create.

/// `ingest_memory` key of a person's vote on an object.
pub(crate) fn vote_key(person: &str, object: &str) -> String {
    format!("vote {person} {object}")
}

/// `ingest_memory` key of a person's follow of a community.
pub(crate) fn follow_key(person: &str, community: &str) -> String {
    format!("follow {person} {community}")
}

/// `ingest_memory` key of a ban (`None`: instance-wide).
pub(crate) fn ban_key(person: &str, community: Option<&str>) -> String {
    format!("ban {person} {}", community.unwrap_or("site"))
}

/// Prefix of the `ingest_memory` keys of deleted objects.
pub(crate) const DELETE_PREFIX: &str = "delete ";

/// `ingest_memory` key of a deleted object.
pub(crate) fn delete_key(object: &str) -> String {
    format!("{DELETE_PREFIX}{object}")
}
