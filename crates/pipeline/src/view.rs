//! The in-memory view a batch is applied to: the rows the lookup found, plus what the
//! batch's activities changed, so that a Create, an Update and a Delete of one object in one
//! batch end as they would one by one. At the end the view becomes one set of
//! [`Changes`] (final states, not a log), written in one transaction.

use chrono::{DateTime, Utc};
use sluice_db::ingest::changes::*;
use sluice_db::ingest::lookup::{Keys, Snapshot};
use sluice_db::outbound::NewOutbound;
use sluice_trust::authority;
use sluice_trust::instances::Policies;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What the view holds of a person: the facts the rules read, and what to write back
/// (`profile` when it changed, `flags_dirty` when only its flags did).
#[derive(Debug, Clone)]
pub(crate) struct PersonState {
    pub local: bool,
    pub inbox: String,
    pub banned: bool,
    pub deleted: bool,
    pub updated: Option<DateTime<Utc>>,
    /// When the account was created (the new-account policy reads it).
    pub published: Option<DateTime<Utc>>,
    /// A new or changed profile to write.
    pub profile: Option<PersonUpsert>,
    pub flags_dirty: bool,
}

/// What the view holds of a community, as for a person; `moderators` are the listed ones
/// (`community_moderator`), `has_local_follower` decides whether its content is kept.
#[derive(Debug, Clone)]
pub(crate) struct CommunityState {
    pub local: bool,
    pub moderators_url: Option<String>,
    pub featured_url: Option<String>,
    pub posting_restricted_to_mods: bool,
    pub deleted: bool,
    pub removed: bool,
    pub updated: Option<DateTime<Utc>>,
    pub has_local_follower: bool,
    pub moderators: HashSet<String>,
    pub profile: Option<CommunityUpsert>,
    pub flags_dirty: bool,
}

/// A post's content as sent.
#[derive(Debug, Clone)]
pub(crate) struct PostContent {
    pub name: String,
    pub url: Option<String>,
    pub body: Option<String>,
    pub source: Option<String>,
    pub language: Option<String>,
    pub nsfw: bool,
}

/// What the view holds of a post: its community and creator (ids), its flags, and its
/// content when new or edited.
#[derive(Debug, Clone)]
pub(crate) struct PostState {
    pub community: String,
    pub creator: String,
    pub locked: bool,
    pub featured: bool,
    pub deleted: bool,
    pub removed: bool,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub content: Option<PostContent>,
    pub flags_dirty: bool,
}

/// A comment's content as sent.
#[derive(Debug, Clone)]
pub(crate) struct CommentContent {
    pub content: String,
    pub source: Option<String>,
    pub language: Option<String>,
    pub distinguished: bool,
}

/// What the view holds of a comment: its post and parent comment (ids), as for a post
/// otherwise.
#[derive(Debug, Clone)]
pub(crate) struct CommentState {
    pub post: String,
    pub parent: Option<String>,
    pub creator: String,
    pub locked: bool,
    pub deleted: bool,
    pub removed: bool,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub content: Option<CommentContent>,
    pub flags_dirty: bool,
}

/// What the view holds of a private message: who sent it to whom, and whether deleted.
#[derive(Debug, Clone)]
pub(crate) struct MessageState {
    pub creator: String,
    pub recipient: String,
    pub deleted: bool,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// New or edited text (content, source).
    pub content: Option<(String, Option<String>)>,
    pub flags_dirty: bool,
}

/// A vote (score 0: none).
#[derive(Debug, Clone)]
pub(crate) struct VoteState {
    pub score: i16,
    pub on_post: bool,
    pub activity_id: Option<String>,
    pub dirty: bool,
}

/// A follow (state `None`: not following).
#[derive(Debug, Clone)]
pub(crate) struct FollowState {
    pub state: Option<String>,
    pub activity_id: Option<String>,
    pub dirty: bool,
}

/// A person's ban from a community or its instance (`present: false`: lifted).
#[derive(Debug, Clone)]
pub(crate) struct BanState {
    pub present: bool,
    pub expires: Option<DateTime<Utc>>,
    pub moderator: Option<String>,
    pub reason: Option<String>,
    pub activity_id: Option<String>,
    pub dirty: bool,
}

/// A report, by its Flag's id: its community (`None` when not known) and whether resolved.
#[derive(Debug, Clone)]
pub(crate) struct ReportState {
    pub community: Option<String>,
    pub resolved: bool,
    /// Created by this batch.
    pub new: Option<NewReport>,
}

/// Everything a batch knows and changes. `Clone` so the planning pass can run on a copy.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub persons: HashMap<String, PersonState>,
    pub communities: HashMap<String, CommunityState>,
    pub posts: HashMap<String, PostState>,
    pub comments: HashMap<String, CommentState>,
    pub messages: HashMap<String, MessageState>,
    /// (person, object).
    pub votes: HashMap<(String, String), VoteState>,
    /// (community, person).
    pub follows: HashMap<(String, String), FollowState>,
    /// (person, community or None for instance-wide).
    pub bans: HashMap<(String, Option<String>), BanState>,
    pub reports: HashMap<String, ReportState>,
    /// The instance-policy table (`sluice_trust::instances`), as the inbox and the queue
    /// hold it; the processor keeps it across batches (a `sluice_db::policy_cache::PolicyCache`).
    pub policies: Arc<Policies>,
    /// `ingest_memory`: key → journal id.
    pub memory: HashMap<String, i64>,
    /// Ids already looked up in the database (found or not).
    pub looked_up: HashSet<String>,
    /// Fetched documents whose id differs from the URL they were fetched by.
    pub aliases: HashMap<String, String>,

    // What the batch produces beyond row states.
    pub keys: BTreeMap<String, KeyUpsert>,
    pub moderator_changes: BTreeMap<(String, String), bool>,
    pub sweeps: Vec<ContentSweep>,
    pub resolved_reports: Vec<String>,
    pub mod_actions: Vec<ModAction>,
    pub memory_changes: BTreeMap<String, MemoryChange>,
    pub outbound: Vec<NewOutbound>,
    /// What the policy chain decided about the batch's rows.
    pub decisions: Vec<sluice_db::ingest::decisions::NewDecision>,
}

impl View {
    /// Adds what a lookup found; rows already in the view (possibly changed by the batch)
    /// win.
    pub(crate) fn absorb(&mut self, keys: &Keys, s: Snapshot) {
        self.looked_up.extend(keys.ids.iter().cloned());
        for p in s.persons {
            // Rows stored before foreign inboxes were refused are checked again.
            let inbox = crate::materialize::own_inbox(&p.ap_id, Some(&p.inbox));
            self.persons.entry(p.ap_id).or_insert(PersonState {
                local: p.local,
                inbox,
                banned: p.banned,
                deleted: p.deleted,
                updated: p.updated,
                published: p.published,
                profile: None,
                flags_dirty: false,
            });
        }
        for c in s.communities {
            self.looked_up.insert(c.ap_id.clone());
            self.communities.entry(c.ap_id).or_insert(CommunityState {
                local: c.local,
                moderators_url: c.moderators_url,
                featured_url: c.featured_url,
                posting_restricted_to_mods: c.posting_restricted_to_mods,
                deleted: c.deleted,
                removed: c.removed,
                updated: c.updated,
                has_local_follower: c.has_local_follower,
                moderators: c.moderators.into_iter().collect(),
                profile: None,
                flags_dirty: false,
            });
        }
        for p in s.posts {
            self.looked_up.insert(p.ap_id.clone());
            self.posts.entry(p.ap_id).or_insert(PostState {
                community: p.community,
                creator: p.creator,
                locked: p.locked,
                featured: p.featured,
                deleted: p.deleted,
                removed: p.removed,
                published: Some(p.published),
                updated: p.updated,
                content: None,
                flags_dirty: false,
            });
        }
        for c in s.comments {
            self.comments.entry(c.ap_id).or_insert(CommentState {
                post: c.post,
                parent: c.parent,
                creator: c.creator,
                locked: c.locked,
                deleted: c.deleted,
                removed: c.removed,
                published: Some(c.published),
                updated: c.updated,
                content: None,
                flags_dirty: false,
            });
        }
        for m in s.messages {
            self.messages.entry(m.ap_id).or_insert(MessageState {
                creator: m.creator,
                recipient: m.recipient,
                deleted: m.deleted,
                published: Some(m.published),
                updated: m.updated,
                content: None,
                flags_dirty: false,
            });
        }
        for v in s.votes {
            let on_post = self.posts.contains_key(&v.object);
            self.votes.entry((v.person, v.object)).or_insert(VoteState {
                score: v.score,
                on_post,
                activity_id: None,
                dirty: false,
            });
        }
        for f in s.follows {
            self.follows
                .entry((f.community, f.person))
                .or_insert(FollowState {
                    state: Some(f.state),
                    activity_id: f.activity_id,
                    dirty: false,
                });
        }
        for b in s.bans {
            self.bans
                .entry((b.person, b.community))
                .or_insert(BanState {
                    present: true,
                    expires: b.expires,
                    moderator: None,
                    reason: None,
                    activity_id: None,
                    dirty: false,
                });
        }
        for m in s.memory {
            // A remembered Delete counts only against its origin's own content (rows from
            // before that rule may name another host's objects).
            if let Some(object) = m.key.strip_prefix(crate::memory::DELETE_PREFIX)
                && !authority::honour_remembered_delete(&m.activity_id, object)
            {
                continue;
            }
            self.memory.entry(m.key).or_insert(m.journal_id);
        }
        for r in s.reports {
            self.reports.entry(r.ap_id).or_insert(ReportState {
                community: r.community,
                resolved: r.resolved,
                new: None,
            });
        }
    }

    /// The canonical id for a URL (a fetched document may name itself differently).
    pub(crate) fn canonical<'a>(&'a self, id: &'a str) -> &'a str {
        self.aliases.get(id).map(String::as_str).unwrap_or(id)
    }

    /// Whether content from `domain` (`host[:port]`) may be stored: the decision the inbox
    /// and the send queue make too.
    pub(crate) fn allowed(&self, domain: &str) -> bool {
        self.policies.decide_str(domain).admits()
    }

    /// Sets a memory entry (keeping the largest journal id).
    pub(crate) fn remember(&mut self, key: String, journal_id: i64, activity_id: &str) {
        let j = self.memory.entry(key.clone()).or_insert(journal_id);
        *j = (*j).max(journal_id);
        let j = *j;
        self.memory_changes.insert(
            key.clone(),
            MemoryChange {
                key,
                journal_id: j,
                activity_id: activity_id.to_string(),
                present: true,
            },
        );
    }

    /// Clears a memory entry.
    pub(crate) fn forget(&mut self, key: &str) {
        if self.memory.remove(key).is_some() || self.memory_changes.contains_key(key) {
            self.memory_changes.insert(
                key.to_string(),
                MemoryChange {
                    key: key.to_string(),
                    journal_id: 0,
                    activity_id: String::new(),
                    present: false,
                },
            );
        }
    }

    /// Sets a vote (the write moves the object's counts by what the vote was before, as
    /// stored then: see `sluice_db::ingest::write`).
    pub(crate) fn set_vote(
        &mut self,
        person: &str,
        object: &str,
        on_post: bool,
        score: i16,
        activity_id: Option<String>,
    ) {
        let key = (person.to_string(), object.to_string());
        self.votes.insert(
            key,
            VoteState {
                score,
                on_post,
                activity_id,
                dirty: true,
            },
        );
    }

    /// Everything to write.
    pub(crate) fn changes(&self) -> Changes {
        let mut ch = Changes::default();
        let mut domains: Vec<String> = Vec::new();
        for (id, p) in sorted(&self.persons) {
            if let Some(up) = &p.profile {
                let mut up = up.clone();
                up.banned = p.banned;
                up.deleted = p.deleted;
                domains.push(up.domain.clone());
                ch.persons.push(up);
            } else if p.flags_dirty {
                ch.person_flags.push(PersonFlags {
                    ap_id: id.clone(),
                    banned: p.banned,
                    deleted: p.deleted,
                });
            }
        }
        for (id, c) in sorted(&self.communities) {
            if let Some(up) = &c.profile {
                let mut up = up.clone();
                up.deleted = c.deleted;
                up.removed = c.removed;
                domains.push(up.domain.clone());
                ch.communities.push(up);
            } else if c.flags_dirty {
                ch.community_flags.push(CommunityFlags {
                    ap_id: id.clone(),
                    deleted: c.deleted,
                    removed: c.removed,
                });
            }
        }
        domains.sort();
        domains.dedup();
        ch.instances = domains;
        ch.keys = self.keys.values().cloned().collect();
        ch.moderators = self
            .moderator_changes
            .iter()
            .map(|((c, p), present)| ModeratorChange {
                community: c.clone(),
                person: p.clone(),
                present: *present,
            })
            .collect();
        for (id, p) in sorted(&self.posts) {
            if let Some(k) = &p.content {
                ch.posts.push(PostUpsert {
                    ap_id: id.clone(),
                    community: p.community.clone(),
                    creator: p.creator.clone(),
                    name: k.name.clone(),
                    url: k.url.clone(),
                    body: k.body.clone(),
                    source: k.source.clone(),
                    language: k.language.clone(),
                    nsfw: k.nsfw,
                    locked: p.locked,
                    featured: p.featured,
                    deleted: p.deleted,
                    removed: p.removed,
                    published: p.published,
                    updated: p.updated,
                });
            } else if p.flags_dirty {
                ch.post_flags.push(PostFlags {
                    ap_id: id.clone(),
                    locked: p.locked,
                    featured: p.featured,
                    deleted: p.deleted,
                    removed: p.removed,
                });
            }
        }
        for (id, c) in sorted(&self.comments) {
            if let Some(k) = &c.content {
                ch.comments.push(CommentUpsert {
                    ap_id: id.clone(),
                    post: c.post.clone(),
                    parent: c.parent.clone(),
                    creator: c.creator.clone(),
                    content: k.content.clone(),
                    source: k.source.clone(),
                    language: k.language.clone(),
                    distinguished: k.distinguished,
                    locked: c.locked,
                    deleted: c.deleted,
                    removed: c.removed,
                    published: c.published,
                    updated: c.updated,
                });
            } else if c.flags_dirty {
                ch.comment_flags.push(CommentFlags {
                    ap_id: id.clone(),
                    locked: c.locked,
                    deleted: c.deleted,
                    removed: c.removed,
                });
            }
        }
        for (id, m) in sorted(&self.messages) {
            if let Some((content, source)) = &m.content {
                ch.messages.push(MessageUpsert {
                    ap_id: id.clone(),
                    creator: m.creator.clone(),
                    recipient: m.recipient.clone(),
                    content: content.clone(),
                    source: source.clone(),
                    deleted: m.deleted,
                    published: m.published,
                    updated: m.updated,
                });
            } else if m.flags_dirty {
                ch.message_flags.push(MessageFlags {
                    ap_id: id.clone(),
                    deleted: m.deleted,
                });
            }
        }
        for ((person, object), v) in sorted(&self.votes) {
            if v.dirty {
                ch.votes.push(VoteChange {
                    person: person.clone(),
                    object: object.clone(),
                    on_post: v.on_post,
                    score: v.score,
                    activity_id: v.activity_id.clone(),
                });
            }
        }
        for ((community, person), f) in sorted(&self.follows) {
            if f.dirty {
                ch.follows.push(FollowChange {
                    community: community.clone(),
                    person: person.clone(),
                    state: f.state.clone(),
                    activity_id: f.activity_id.clone(),
                });
            }
        }
        for ((person, community), b) in sorted(&self.bans) {
            if b.dirty {
                ch.bans.push(BanChange {
                    person: person.clone(),
                    community: community.clone(),
                    moderator: b.moderator.clone(),
                    reason: b.reason.clone(),
                    expires: b.expires,
                    activity_id: b.activity_id.clone(),
                    present: b.present,
                });
            }
        }
        ch.sweeps = self.sweeps.clone();
        for (_, r) in sorted(&self.reports) {
            if let Some(n) = &r.new {
                let mut n = n.clone();
                n.resolved = r.resolved;
                ch.reports.push(n);
            }
        }
        ch.resolved_reports = self.resolved_reports.clone();
        ch.mod_actions = self.mod_actions.clone();
        ch.memory = self.memory_changes.values().cloned().collect();
        ch.outbound = self.outbound.clone();
        ch.decisions = self.decisions.clone();
        ch
    }
}

/// Map entries in key order (stable statements, consistent lock order).
fn sorted<K: Ord, V>(m: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}
