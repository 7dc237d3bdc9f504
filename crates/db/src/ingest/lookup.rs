//! The lookup round: everything a batch refers to, in one pipelined flight of statements
//! keyed by ActivityPub ids (one round-trip once the statements are prepared).
//!
//! Rows reached through a referenced object come along without a second round: the posts of
//! referenced comments, the communities (and their moderators) of referenced posts and
//! comments.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// What a batch refers to.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// ActivityPub ids of actors, objects and reports.
    pub ids: Vec<String>,
    /// (person, post or comment) pairs whose votes matter.
    pub votes: Vec<(String, String)>,
    /// (community, person) pairs whose follows matter.
    pub follows: Vec<(String, String)>,
    /// Follow activity ids (Accept/Reject naming a follow by id).
    pub follow_activities: Vec<String>,
    /// Instance domains the batch names.
    pub domains: Vec<String>,
    /// `ingest_memory` keys.
    pub memory: Vec<String>,
}

impl Keys {
    /// Nothing to look up.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.votes.is_empty()
            && self.follows.is_empty()
            && self.follow_activities.is_empty()
            && self.domains.is_empty()
            && self.memory.is_empty()
    }
}

/// A person, as the pipeline needs it.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct PersonRow {
    /// ActivityPub id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// Lives here.
    #[diesel(sql_type = Bool)]
    pub local: bool,
    /// Inbox.
    #[diesel(sql_type = Text)]
    pub inbox: String,
    /// Shared inbox.
    #[diesel(sql_type = Nullable<Text>)]
    pub shared_inbox: Option<String>,
    /// Banned by its home instance.
    #[diesel(sql_type = Bool)]
    pub banned: bool,
    /// Account deleted.
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    /// Profile version.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated: Option<DateTime<Utc>>,
    /// When the account was created.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub published: Option<DateTime<Utc>>,
}

/// A community, with its moderators and whether a local actor follows it.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct CommunityRow {
    /// ActivityPub id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// Lives here.
    #[diesel(sql_type = Bool)]
    pub local: bool,
    /// Inbox.
    #[diesel(sql_type = Text)]
    pub inbox: String,
    /// Moderators collection.
    #[diesel(sql_type = Nullable<Text>)]
    pub moderators_url: Option<String>,
    /// Featured collection.
    #[diesel(sql_type = Nullable<Text>)]
    pub featured_url: Option<String>,
    /// Only moderators may post.
    #[diesel(sql_type = Bool)]
    pub posting_restricted_to_mods: bool,
    /// Deleted.
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    /// Removed.
    #[diesel(sql_type = Bool)]
    pub removed: bool,
    /// Profile version.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated: Option<DateTime<Utc>>,
    /// A local person follows it (remote communities only).
    #[diesel(sql_type = Bool)]
    pub has_local_follower: bool,
    /// Its moderators' ActivityPub ids.
    #[diesel(sql_type = Array<Text>)]
    pub moderators: Vec<String>,
}

/// A post's state (its text is not loaded: nothing in a batch needs it).
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct PostRow {
    /// ActivityPub id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// Its community.
    #[diesel(sql_type = Text)]
    pub community: String,
    /// Its author.
    #[diesel(sql_type = Text)]
    pub creator: String,
    /// Locked.
    #[diesel(sql_type = Bool)]
    pub locked: bool,
    /// Featured.
    #[diesel(sql_type = Bool)]
    pub featured: bool,
    /// Deleted by its author.
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    /// Removed by a moderator.
    #[diesel(sql_type = Bool)]
    pub removed: bool,
    /// Created.
    #[diesel(sql_type = Timestamptz)]
    pub published: DateTime<Utc>,
    /// Last edit.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated: Option<DateTime<Utc>>,
}

/// A comment's state.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct CommentRow {
    /// ActivityPub id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// Its post.
    #[diesel(sql_type = Text)]
    pub post: String,
    /// The comment it answers.
    #[diesel(sql_type = Nullable<Text>)]
    pub parent: Option<String>,
    /// Its author.
    #[diesel(sql_type = Text)]
    pub creator: String,
    /// Locked.
    #[diesel(sql_type = Bool)]
    pub locked: bool,
    /// Deleted by its author.
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    /// Removed by a moderator.
    #[diesel(sql_type = Bool)]
    pub removed: bool,
    /// Distinguished.
    #[diesel(sql_type = Bool)]
    pub distinguished: bool,
    /// Created.
    #[diesel(sql_type = Timestamptz)]
    pub published: DateTime<Utc>,
    /// Last edit.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated: Option<DateTime<Utc>>,
}

/// A private message's state.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct MessageRow {
    /// ActivityPub id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// Sender.
    #[diesel(sql_type = Text)]
    pub creator: String,
    /// Recipient.
    #[diesel(sql_type = Text)]
    pub recipient: String,
    /// Deleted.
    #[diesel(sql_type = Bool)]
    pub deleted: bool,
    /// Created.
    #[diesel(sql_type = Timestamptz)]
    pub published: DateTime<Utc>,
    /// Last edit.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated: Option<DateTime<Utc>>,
}

/// A vote.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct VoteRow {
    /// Who.
    #[diesel(sql_type = Text)]
    pub person: String,
    /// On what (post or comment).
    #[diesel(sql_type = Text)]
    pub object: String,
    /// +1 / -1.
    #[diesel(sql_type = SmallInt)]
    pub score: i16,
}

/// A follow.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct FollowRow {
    /// The community.
    #[diesel(sql_type = Text)]
    pub community: String,
    /// The follower.
    #[diesel(sql_type = Text)]
    pub person: String,
    /// `pending` or `accepted`.
    #[diesel(sql_type = Text)]
    pub state: String,
    /// The Follow's id.
    #[diesel(sql_type = Nullable<Text>)]
    pub activity_id: Option<String>,
}

/// A ban.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct BanRow {
    /// The banned person.
    #[diesel(sql_type = Text)]
    pub person: String,
    /// From this community; `None`: instance-wide.
    #[diesel(sql_type = Nullable<Text>)]
    pub community: Option<String>,
    /// Until.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub expires: Option<DateTime<Utc>>,
}

/// An instance's policy.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct InstanceRow {
    /// host[:port].
    #[diesel(sql_type = Text)]
    pub domain: String,
    /// `none`, `allow`, `block`.
    #[diesel(sql_type = Text)]
    pub policy: String,
}

/// A remembered Undo or Delete.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct MemoryRow {
    /// Its key.
    #[diesel(sql_type = Text)]
    pub key: String,
    /// The journal id that set it.
    #[diesel(sql_type = BigInt)]
    pub journal_id: i64,
    /// The activity that set it.
    #[diesel(sql_type = Text)]
    pub activity_id: String,
}

/// A report.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct ReportRow {
    /// The Flag's id.
    #[diesel(sql_type = Text)]
    pub ap_id: String,
    /// Its community.
    #[diesel(sql_type = Nullable<Text>)]
    pub community: Option<String>,
    /// Resolved already.
    #[diesel(sql_type = Bool)]
    pub resolved: bool,
}

#[derive(diesel::QueryableByName)]
struct PolicyRow {
    #[diesel(sql_type = BigInt)]
    generation: i64,
    #[diesel(sql_type = Text)]
    mode: String,
    #[diesel(sql_type = Nullable<Text>)]
    domain: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    policy: Option<String>,
}

/// The instance policy as stored at one `policy_generation`.
#[derive(Debug, Clone, Default)]
pub struct PolicyRows {
    /// `policy_generation.generation`.
    pub generation: i64,
    /// `open` or `allowlist`.
    pub mode: String,
    /// Every instance policy entry (rows with a policy other than `none`).
    pub instances: Vec<InstanceRow>,
}

impl PolicyRows {
    /// `None` when the rows say the generation is still `known` (no entries were read).
    fn from_rows(rows: Vec<PolicyRow>, known: Option<i64>) -> Option<PolicyRows> {
        let first = <[PolicyRow]>::first(&rows)?;
        if Some(first.generation) == known {
            return None;
        }
        let (generation, mode) = (first.generation, first.mode.clone());
        let instances = rows
            .into_iter()
            .filter_map(|r| {
                Some(InstanceRow {
                    domain: r.domain?,
                    policy: r.policy?,
                })
            })
            .collect();
        Some(PolicyRows {
            generation,
            mode,
            instances,
        })
    }
}

/// Everything found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Persons.
    pub persons: Vec<PersonRow>,
    /// Communities.
    pub communities: Vec<CommunityRow>,
    /// Posts (also those of referenced comments).
    pub posts: Vec<PostRow>,
    /// Comments.
    pub comments: Vec<CommentRow>,
    /// Private messages.
    pub messages: Vec<MessageRow>,
    /// Votes.
    pub votes: Vec<VoteRow>,
    /// Follows.
    pub follows: Vec<FollowRow>,
    /// Bans of referenced persons.
    pub bans: Vec<BanRow>,
    /// The instance policy, when its generation is not the one the caller already holds.
    pub policy: Option<PolicyRows>,
    /// Remembered Undos and Deletes.
    pub memory: Vec<MemoryRow>,
    /// Reports.
    pub reports: Vec<ReportRow>,
}

const PERSONS: &str = "\
SELECT ap_id, local, inbox, shared_inbox, banned, deleted, updated, published
FROM person WHERE ap_id = ANY($1::text[])";

const COMMUNITIES: &str = "\
WITH ids AS (SELECT unnest($1::text[]) AS ap_id),
cid AS (
    SELECT c.id FROM community c JOIN ids ON c.ap_id = ids.ap_id
    UNION SELECT p.community_id FROM post p JOIN ids ON p.ap_id = ids.ap_id
    UNION SELECT p.community_id FROM comment cm JOIN ids ON cm.ap_id = ids.ap_id
        JOIN post p ON p.id = cm.post_id
)
SELECT c.ap_id, c.local, c.inbox, c.moderators_url, c.featured_url,
    c.posting_restricted_to_mods, c.deleted, c.removed, c.updated,
    (NOT c.local AND EXISTS (SELECT 1 FROM community_follow f
        JOIN person fp ON fp.id = f.person_id AND fp.local WHERE f.community_id = c.id))
        AS has_local_follower,
    ARRAY(SELECT mp.ap_id FROM community_moderator m JOIN person mp ON mp.id = m.person_id
        WHERE m.community_id = c.id) AS moderators
FROM community c JOIN cid ON cid.id = c.id";

const POSTS: &str = "\
WITH ids AS (SELECT unnest($1::text[]) AS ap_id)
SELECT p.ap_id, c.ap_id AS community, pe.ap_id AS creator, p.locked, p.featured, p.deleted,
    p.removed, p.published, p.updated
FROM post p JOIN community c ON c.id = p.community_id JOIN person pe ON pe.id = p.creator_id
WHERE p.id IN (SELECT p2.id FROM post p2 JOIN ids ON p2.ap_id = ids.ap_id
    UNION SELECT cm.post_id FROM comment cm JOIN ids ON cm.ap_id = ids.ap_id)";

const COMMENTS: &str = "\
SELECT cm.ap_id, p.ap_id AS post, par.ap_id AS parent, pe.ap_id AS creator, cm.locked,
    cm.deleted, cm.removed, cm.distinguished, cm.published, cm.updated
FROM comment cm JOIN post p ON p.id = cm.post_id JOIN person pe ON pe.id = cm.creator_id
LEFT JOIN comment par ON par.id = cm.parent_id
WHERE cm.ap_id = ANY($1::text[])";

const MESSAGES: &str = "\
SELECT m.ap_id, cr.ap_id AS creator, re.ap_id AS recipient, m.deleted, m.published, m.updated
FROM private_message m JOIN person cr ON cr.id = m.creator_id
JOIN person re ON re.id = m.recipient_id
WHERE m.ap_id = ANY($1::text[])";

const VOTES: &str = "\
WITH t AS (SELECT * FROM UNNEST($1::text[], $2::text[]) AS t(person, object))
SELECT t.person, t.object, v.score FROM t JOIN person pe ON pe.ap_id = t.person
    JOIN post po ON po.ap_id = t.object JOIN vote v ON v.person_id = pe.id AND v.post_id = po.id
UNION ALL
SELECT t.person, t.object, v.score FROM t JOIN person pe ON pe.ap_id = t.person
    JOIN comment co ON co.ap_id = t.object
    JOIN vote v ON v.person_id = pe.id AND v.comment_id = co.id";

const FOLLOWS: &str = "\
SELECT c.ap_id AS community, pe.ap_id AS person, f.state, f.activity_id
FROM UNNEST($1::text[], $2::text[]) AS t(community, person)
JOIN community c ON c.ap_id = t.community JOIN person pe ON pe.ap_id = t.person
JOIN community_follow f ON f.community_id = c.id AND f.person_id = pe.id
UNION
SELECT c.ap_id, pe.ap_id, f.state, f.activity_id FROM community_follow f
JOIN community c ON c.id = f.community_id JOIN person pe ON pe.id = f.person_id
WHERE f.activity_id = ANY($3::text[])";

const BANS: &str = "\
SELECT pe.ap_id AS person, c.ap_id AS community, b.expires
FROM ban b JOIN person pe ON pe.id = b.person_id LEFT JOIN community c ON c.id = b.community_id
WHERE pe.ap_id = ANY($1::text[])";

// Every policy row, not only the batch's domains: a block on a parent domain must reach
// its subdomains, and the decision (`sluice_trust::instances`) reads the same rows the inbox
// and the send queue read. Read only when `policy_generation` moved past the caller's ($1):
// otherwise one row (generation and mode) comes back. One statement, so the generation and
// the entries are of one snapshot.
const POLICY: &str = "\
SELECT g.generation, g.mode, i.domain, i.policy
FROM policy_generation g
LEFT JOIN instance i ON i.policy <> 'none' AND g.generation IS DISTINCT FROM $1::bigint";

const MEMORY: &str =
    "SELECT key, journal_id, activity_id FROM ingest_memory WHERE key = ANY($1::text[])";

const REPORTS: &str = "\
SELECT r.ap_id, c.ap_id AS community, r.resolved
FROM report r LEFT JOIN community c ON c.id = r.community_id
WHERE r.ap_id = ANY($1::text[])";

/// Runs every lookup statement in one flight. `policy_generation` is the generation of the
/// instance policy the caller holds: its rows are read only when it has moved.
pub async fn lookup(
    c: &AsyncPgConnection,
    k: &Keys,
    policy_generation: Option<i64>,
) -> diesel::QueryResult<Snapshot> {
    let ids = || k.ids.clone();
    let (vote_people, vote_objects): (Vec<String>, Vec<String>) = k.votes.iter().cloned().unzip();
    let (follow_communities, follow_people): (Vec<String>, Vec<String>) =
        k.follows.iter().cloned().unzip();
    let by_ids = |text: &'static str| crate::sql(text).bind::<Array<Text>, _>(ids());
    // One `try_join!`: every statement is queued before any answer is awaited.
    let (
        persons,
        communities,
        posts,
        comments,
        messages,
        votes,
        follows,
        bans,
        policy,
        memory,
        reports,
    ) = futures::try_join!(
        by_ids(PERSONS).load::<PersonRow>(&mut &*c),
        by_ids(COMMUNITIES).load::<CommunityRow>(&mut &*c),
        by_ids(POSTS).load::<PostRow>(&mut &*c),
        by_ids(COMMENTS).load::<CommentRow>(&mut &*c),
        by_ids(MESSAGES).load::<MessageRow>(&mut &*c),
        crate::sql(VOTES)
            .bind::<Array<Text>, _>(vote_people)
            .bind::<Array<Text>, _>(vote_objects)
            .load::<VoteRow>(&mut &*c),
        crate::sql(FOLLOWS)
            .bind::<Array<Text>, _>(follow_communities)
            .bind::<Array<Text>, _>(follow_people)
            .bind::<Array<Text>, _>(k.follow_activities.clone())
            .load::<FollowRow>(&mut &*c),
        by_ids(BANS).load::<BanRow>(&mut &*c),
        crate::sql(POLICY)
            .bind::<Nullable<BigInt>, _>(policy_generation)
            .load::<PolicyRow>(&mut &*c),
        crate::sql(MEMORY)
            .bind::<Array<Text>, _>(k.memory.clone())
            .load::<MemoryRow>(&mut &*c),
        by_ids(REPORTS).load::<ReportRow>(&mut &*c),
    )?;
    Ok(Snapshot {
        persons,
        communities,
        posts,
        comments,
        messages,
        votes,
        follows,
        bans,
        policy: PolicyRows::from_rows(policy, policy_generation),
        memory,
        reports,
    })
}
