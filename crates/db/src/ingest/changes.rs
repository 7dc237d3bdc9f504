//! What a batch writes: the final state of every row it touched, as plain values. The
//! pipeline builds it from its in-memory view; [`super::write`] turns it into statements.
//!
//! References between rows are ActivityPub ids, resolved in SQL (the statements of one
//! write are pipelined, so no statement can wait for another's generated ids). Each list
//! holds at most one entry per key.
//!
//! A field named as a column is that column of the table its struct writes (`ap_id`,
//! `deleted`, `removed`, `locked`, ...: `docs/schema.md` says what each means); only what
//! the column's name does not say is documented here.

use crate::ingest::journal::Mark;
use crate::outbound::NewOutbound;
use chrono::{DateTime, Utc};

/// A remote person's profile (inserted, or updated unless the row is local).
#[derive(Debug, Clone)]
pub struct PersonUpsert {
    pub ap_id: String,
    /// Its instance (host[:port]).
    pub domain: String,
    pub name: String,
    pub display_name: Option<String>,
    pub summary: Option<String>,
    pub avatar: Option<String>,
    pub banner: Option<String>,
    pub inbox: String,
    pub shared_inbox: Option<String>,
    pub public_key_pem: Option<String>,
    /// Automated.
    pub bot: bool,
    /// Banned by its instance.
    pub banned: bool,
    pub deleted: bool,
    pub published: Option<DateTime<Utc>>,
    /// Profile version.
    pub updated: Option<DateTime<Utc>>,
}

/// Flags of a person whose profile did not change.
#[derive(Debug, Clone)]
pub struct PersonFlags {
    pub ap_id: String,
    /// Banned by its instance.
    pub banned: bool,
    pub deleted: bool,
}

/// A remote signer's key.
#[derive(Debug, Clone)]
pub struct KeyUpsert {
    pub key_id: String,
    pub owner: String,
    pub pem: String,
}

/// A remote community's profile.
#[derive(Debug, Clone)]
pub struct CommunityUpsert {
    pub ap_id: String,
    /// Its instance.
    pub domain: String,
    pub name: String,
    pub title: String,
    pub summary: Option<String>,
    pub icon: Option<String>,
    pub banner: Option<String>,
    pub inbox: String,
    pub shared_inbox: Option<String>,
    pub followers_url: Option<String>,
    pub moderators_url: Option<String>,
    pub featured_url: Option<String>,
    pub public_key_pem: Option<String>,
    pub nsfw: bool,
    /// Only moderators post.
    pub posting_restricted_to_mods: bool,
    pub deleted: bool,
    pub removed: bool,
    pub published: Option<DateTime<Utc>>,
    /// Profile version.
    pub updated: Option<DateTime<Utc>>,
}

/// Flags of a community whose profile did not change.
#[derive(Debug, Clone)]
pub struct CommunityFlags {
    pub ap_id: String,
    pub deleted: bool,
    pub removed: bool,
}

/// A moderator added (`present`) or removed.
#[derive(Debug, Clone)]
pub struct ModeratorChange {
    pub community: String,
    pub person: String,
    /// Is a moderator after the batch.
    pub present: bool,
}

/// A post's content and flags.
#[derive(Debug, Clone)]
pub struct PostUpsert {
    pub ap_id: String,
    /// Community (immutable).
    pub community: String,
    /// Author (immutable).
    pub creator: String,
    pub name: String,
    pub url: Option<String>,
    pub body: Option<String>,
    pub source: Option<String>,
    pub language: Option<String>,
    pub nsfw: bool,
    pub locked: bool,
    pub featured: bool,
    pub deleted: bool,
    pub removed: bool,
    pub published: Option<DateTime<Utc>>,
    /// Last edit.
    pub updated: Option<DateTime<Utc>>,
}

/// Flags of a post whose content did not change.
#[derive(Debug, Clone)]
pub struct PostFlags {
    pub ap_id: String,
    pub locked: bool,
    pub featured: bool,
    pub deleted: bool,
    pub removed: bool,
}

/// A comment's content and flags.
#[derive(Debug, Clone)]
pub struct CommentUpsert {
    pub ap_id: String,
    /// Post (immutable).
    pub post: String,
    /// The comment answered (linked once both rows exist).
    pub parent: Option<String>,
    /// Author (immutable).
    pub creator: String,
    pub content: String,
    pub source: Option<String>,
    pub language: Option<String>,
    pub distinguished: bool,
    pub locked: bool,
    pub deleted: bool,
    pub removed: bool,
    pub published: Option<DateTime<Utc>>,
    /// Last edit.
    pub updated: Option<DateTime<Utc>>,
}

/// Flags of a comment whose content did not change.
#[derive(Debug, Clone)]
pub struct CommentFlags {
    pub ap_id: String,
    pub locked: bool,
    pub deleted: bool,
    pub removed: bool,
}

/// A private message.
#[derive(Debug, Clone)]
pub struct MessageUpsert {
    pub ap_id: String,
    /// Sender.
    pub creator: String,
    /// Recipient.
    pub recipient: String,
    pub content: String,
    pub source: Option<String>,
    pub deleted: bool,
    pub published: Option<DateTime<Utc>>,
    /// Last edit.
    pub updated: Option<DateTime<Utc>>,
}

/// Deleted flag of a message whose content did not change.
#[derive(Debug, Clone)]
pub struct MessageFlags {
    pub ap_id: String,
    pub deleted: bool,
}

/// A vote after the batch.
#[derive(Debug, Clone)]
pub struct VoteChange {
    /// Who.
    pub person: String,
    /// On what.
    pub object: String,
    /// The object is a post (else a comment).
    pub on_post: bool,
    /// +1, -1, or 0 for "no vote".
    pub score: i16,
    /// The Like/Dislike.
    pub activity_id: Option<String>,
}

/// A follow after the batch.
#[derive(Debug, Clone)]
pub struct FollowChange {
    pub community: String,
    /// Follower.
    pub person: String,
    /// `pending`, `accepted`, or `None` for "not following".
    pub state: Option<String>,
    /// The Follow.
    pub activity_id: Option<String>,
}

/// A ban after the batch.
#[derive(Debug, Clone)]
pub struct BanChange {
    /// Banned person.
    pub person: String,
    /// Community; `None` is instance-wide.
    pub community: Option<String>,
    /// Who banned.
    pub moderator: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Until.
    pub expires: Option<DateTime<Utc>>,
    /// The Block.
    pub activity_id: Option<String>,
    /// Banned after the batch.
    pub present: bool,
}

/// Mark all of a person's posts and comments (in one community, or everywhere) removed
/// (ban with `removeData`) or deleted (account deletion with `removeData`).
#[derive(Debug, Clone)]
pub struct ContentSweep {
    /// Whose.
    pub person: String,
    /// Where; `None`: everywhere.
    pub community: Option<String>,
    /// Removed (by a moderator) rather than deleted.
    pub removed: bool,
}

/// A report.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// The Flag's id.
    pub ap_id: String,
    /// Reporter.
    pub creator: String,
    /// Community, when known.
    pub community: Option<String>,
    /// What is reported.
    pub object: String,
    /// Why.
    pub reason: Option<String>,
    /// Already resolved (a Resolve in the same batch).
    pub resolved: bool,
}

/// A moderation log entry.
#[derive(Debug, Clone)]
pub struct ModAction {
    /// The activity.
    pub activity_id: String,
    /// e.g. `remove_post`, `lock_post`, `ban`, `add_mod`.
    pub kind: String,
    /// Who.
    pub moderator: Option<String>,
    /// Where.
    pub community: Option<String>,
    /// On what.
    pub target: String,
    /// Why.
    pub reason: Option<String>,
}

/// An `ingest_memory` entry set (`present`) or cleared.
#[derive(Debug, Clone)]
pub struct MemoryChange {
    /// Key.
    pub key: String,
    /// Journal id that set it.
    pub journal_id: i64,
    /// The Undo / Delete.
    pub activity_id: String,
    /// Set (else cleared).
    pub present: bool,
}

/// Everything one batch writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Domains of new actors (instance rows created when missing).
    pub instances: Vec<String>,
    /// Person profiles.
    pub persons: Vec<PersonUpsert>,
    /// Person flags.
    pub person_flags: Vec<PersonFlags>,
    /// Keys.
    pub keys: Vec<KeyUpsert>,
    /// Community profiles.
    pub communities: Vec<CommunityUpsert>,
    /// Community flags.
    pub community_flags: Vec<CommunityFlags>,
    /// Moderators.
    pub moderators: Vec<ModeratorChange>,
    /// Posts.
    pub posts: Vec<PostUpsert>,
    /// Post flags.
    pub post_flags: Vec<PostFlags>,
    /// Comments.
    pub comments: Vec<CommentUpsert>,
    /// Comment flags.
    pub comment_flags: Vec<CommentFlags>,
    /// Private messages.
    pub messages: Vec<MessageUpsert>,
    /// Message flags.
    pub message_flags: Vec<MessageFlags>,
    /// Votes.
    pub votes: Vec<VoteChange>,
    /// Follows.
    pub follows: Vec<FollowChange>,
    /// Bans.
    pub bans: Vec<BanChange>,
    /// Content sweeps.
    pub sweeps: Vec<ContentSweep>,
    /// New reports.
    pub reports: Vec<NewReport>,
    /// Reports resolved (by Flag id).
    pub resolved_reports: Vec<String>,
    /// Moderation log.
    pub mod_actions: Vec<ModAction>,
    /// Memory.
    pub memory: Vec<MemoryChange>,
    /// Drop memory entries older than 30 days.
    pub memory_gc: bool,
    /// Activities to send (Accepts, Announces).
    pub outbound: Vec<NewOutbound>,
    /// Journal rows.
    pub journal: Vec<Mark>,
    /// What the policy chain decided about them.
    pub decisions: Vec<crate::ingest::decisions::NewDecision>,
}
