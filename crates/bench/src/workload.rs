//! What a busy Lemmy community sends: the activity mix, one stream per sending instance.
//!
//! A [`Generator`] plays one remote instance with one community and a few users. It decides
//! the next activity from [`Mix`] (mostly votes, then comments, posts, a few edits, deletions
//! and follows), keeps the little state needed for the stream to make sense (objects exist
//! before they are voted on, replied to, edited or deleted; an Undo undoes something), and
//! tags every activity with its [`Effect`] so that the expected end state of the tables can
//! be recomputed from exactly the activities that were acknowledged ([`Expected`]).
//!
//! Ordering: a sender with `window` requests in flight may have activity `i` journaled
//! before `i - 1`, but never before `i - window` (it is sent only once that one was
//! answered). So an activity refers only to things created, or last touched, at least
//! `window` positions earlier; with that rule the end state does not depend on how the
//! in-flight requests interleave, and the cross-check stays exact in windowed mode too.

use crate::lemmy::{self, Scope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Relative weights of the activity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// `Like`/`Dislike` of a post or comment (or a changed vote).
    pub vote: u32,
    /// `Undo` of a vote.
    pub undo_vote: u32,
    /// `Create(Note)`.
    pub comment: u32,
    /// `Create(Page)`.
    pub post: u32,
    /// `Update(Page|Note)` by the author.
    pub update: u32,
    /// `Delete(Page|Note)` by the author.
    pub delete: u32,
    /// `Follow`/`Undo(Follow)` of the receiving instance's community (not announced).
    pub follow: u32,
}

impl Mix {
    /// The mix of a busy Lemmy community as a subscriber instance receives it: about
    /// seven votes for every two comments, a post every sixteen activities, and a few
    /// edits, deletions and follows.
    pub const LEMMY: Mix = Mix {
        vote: 680,
        undo_vote: 20,
        comment: 180,
        post: 60,
        update: 20,
        delete: 20,
        follow: 20,
    };

    fn total(&self) -> u32 {
        self.vote
            + self.undo_vote
            + self.comment
            + self.post
            + self.update
            + self.delete
            + self.follow
    }
}

/// The kind of a generated activity, for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Announce(Like|Dislike).
    Vote,
    /// Announce(Undo(Like)).
    UndoVote,
    /// Announce(Create(Note)).
    Comment,
    /// Announce(Create(Page)).
    Post,
    /// Announce(Update(Page|Note)).
    Update,
    /// Announce(Delete(Page|Note)).
    Delete,
    /// Follow (direct).
    Follow,
    /// Undo(Follow) (direct).
    UndoFollow,
}

/// A post or comment of the generating instance, by number (`/post/N`, `/comment/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjKey {
    /// A post (else a comment).
    pub post: bool,
    /// Its number.
    pub n: u64,
}

/// What an activity changes in the receiver's tables, once applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A new post.
    Post(ObjKey),
    /// A new comment.
    Comment(ObjKey),
    /// An edit: no count changes.
    Update,
    /// The object is marked deleted.
    Delete(ObjKey),
    /// Person `person` now votes `score` on `object`.
    Vote {
        /// Person index on this instance.
        person: usize,
        /// What.
        object: ObjKey,
        /// 1 or -1.
        score: i8,
    },
    /// Person's vote on the object is gone.
    Unvote {
        /// Person index.
        person: usize,
        /// What.
        object: ObjKey,
    },
    /// Person follows the receiver's community.
    Follow(usize),
    /// Person no longer follows it.
    Unfollow(usize),
}

/// Where an activity is posted on the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The shared inbox, `/inbox` (Lemmy sends announces there).
    Shared,
    /// The receiver's community inbox (follows).
    LocalCommunity,
}

/// One activity to send.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The activity, as sent.
    pub activity: Value,
    /// Its `id` (the journal's key).
    pub id: String,
    /// What kind.
    pub kind: Kind,
    /// The actor (name on the peer) who signs the request.
    pub signer: String,
    /// Where it goes.
    pub route: Route,
    /// What it changes.
    pub effect: Effect,
}

/// A document the sending instance serves (posts and comments, fetchable by id as Lemmy's are).
pub type Served = (String, Value);

#[derive(Debug, Clone)]
struct Obj {
    key: ObjKey,
    id: String,
    author: usize,
    created: usize,
    last_touched: usize,
    deleted: bool,
    /// The post it lives under (itself for a post): a deleted post takes its comments
    /// along (the receiver refuses votes and replies under it, as Lemmy does).
    root: usize,
    /// What a comment replies to (an edit repeats it).
    reply_to: Option<String>,
    published: chrono::DateTime<chrono::Utc>,
    version: chrono::DateTime<chrono::Utc>,
}

/// A vote, or its absence after an Undo, and when it last changed: a change is only made
/// once the previous one is settled (both are kept, so an Undo and a new vote never race).
#[derive(Debug, Clone, Copy)]
struct VoteState {
    score: Option<i8>,
    at: usize,
}

/// One sending instance's stream of activities.
pub struct Generator {
    base: String,
    community: String,
    persons: Vec<(String, String)>,
    local_community: Option<String>,
    mix: Mix,
    lag: usize,
    rng: StdRng,
    pos: usize,
    next_post: u64,
    next_comment: u64,
    objects: Vec<Obj>,
    by_key: HashMap<ObjKey, usize>,
    votes: HashMap<(usize, ObjKey), VoteState>,
    recent_votes: Vec<(usize, ObjKey)>,
    /// Per user: following the receiver's community now, and since when (as for votes).
    follows: HashMap<usize, (bool, usize)>,
}

/// Words for titles and bodies (the size of Lemmy's payloads, not their prose).
const WORDS: &[&str] = &[
    "federation",
    "instance",
    "community",
    "moderator",
    "upvote",
    "thread",
    "rust",
    "linux",
    "release",
    "server",
    "question",
    "answer",
    "today",
    "really",
    "works",
    "broken",
    "fixed",
    "again",
    "queue",
    "database",
    "latency",
    "great",
    "idea",
    "why",
    "how",
    "the",
    "a",
    "is",
    "this",
    "that",
    "with",
    "for",
    "not",
    "and",
    "but",
    "on",
];

impl Generator {
    /// A stream for the instance at `base` whose community is `community` and whose users are
    /// `persons` (`(name, id)`). Follows go to `local_community` (none: no follows).
    /// `window` is the sender's requests in flight (1 for a serial sender).
    pub fn new(
        base: &str,
        community: &str,
        persons: Vec<(String, String)>,
        local_community: Option<String>,
        mix: Mix,
        window: usize,
        seed: u64,
    ) -> Generator {
        assert!(!persons.is_empty(), "a generator needs at least one person");
        Generator {
            base: base.to_string(),
            community: community.to_string(),
            persons,
            local_community,
            mix,
            lag: window.max(1),
            rng: StdRng::seed_from_u64(seed),
            pos: 0,
            next_post: 1,
            next_comment: 1,
            objects: Vec::new(),
            by_key: HashMap::new(),
            votes: HashMap::new(),
            recent_votes: Vec::new(),
            follows: HashMap::new(),
        }
    }

    /// Number of users.
    pub fn persons(&self) -> usize {
        self.persons.len()
    }

    fn scope(&self, person: usize) -> Scope<'_> {
        Scope {
            base: &self.base,
            community: &self.community,
            person: &self.persons[person].1,
        }
    }

    fn uuid(&mut self) -> String {
        let v: u128 = self.rng.r#gen();
        let h = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    fn text(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| WORDS[self.rng.gen_range(0..WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Objects that may be referred to now: created at least `lag` positions ago.
    fn eligible(&self) -> usize {
        self.objects
            .partition_point(|o| o.created + self.lag <= self.pos)
    }

    /// Deleted, or under a deleted post.
    fn dead(&self, i: usize) -> bool {
        let o = &self.objects[i];
        o.deleted || self.objects[o.root].deleted
    }

    /// Marks object `i` (and so its post) as referred to now.
    fn touch(&mut self, i: usize) {
        let root = self.objects[i].root;
        self.objects[i].last_touched = self.pos;
        self.objects[root].last_touched = self.pos;
    }

    /// A live object that may be referred to now, mostly a recent one (votes and replies
    /// concentrate on what is new), matching `filter`.
    fn pick(&mut self, filter: impl Fn(&Obj, usize, usize) -> bool) -> Option<usize> {
        let n = self.eligible();
        if n == 0 {
            return None;
        }
        for _ in 0..8 {
            let i = if self.rng.gen_bool(0.8) {
                n - 1 - self.rng.gen_range(0..n.min(100))
            } else {
                self.rng.gen_range(0..n)
            };
            let o = &self.objects[i];
            if !self.dead(i) && filter(o, self.pos, self.lag) {
                return Some(i);
            }
        }
        None
    }

    /// The next activity (and the documents its sender now serves).
    pub fn next_activity(&mut self) -> (Planned, Vec<Served>) {
        let mut roll = self.rng.gen_range(0..self.mix.total());
        let m = self.mix;
        let planned = 'pick: {
            for (weight, kind) in [
                (m.vote, Kind::Vote),
                (m.undo_vote, Kind::UndoVote),
                (m.comment, Kind::Comment),
                (m.post, Kind::Post),
                (m.update, Kind::Update),
                (m.delete, Kind::Delete),
                (m.follow, Kind::Follow),
            ] {
                if roll < weight {
                    break 'pick self.try_kind(kind);
                }
                roll -= weight;
            }
            None
        };
        // Early in the stream there may be nothing to vote on yet: a post is always possible.
        let out = match planned {
            Some(p) => p,
            None => {
                let person = self.rng.gen_range(0..self.persons.len());
                self.post_by(person)
            }
        };
        self.pos += 1;
        out
    }

    /// A post by `person` (the warm-up makes every user post once, so that the receiver
    /// knows every actor before the timed phase).
    pub fn warm_up_post(&mut self, person: usize) -> (Planned, Vec<Served>) {
        let out = self.post_by(person);
        self.pos += 1;
        out
    }

    fn try_kind(&mut self, kind: Kind) -> Option<(Planned, Vec<Served>)> {
        match kind {
            Kind::Vote => self.vote(),
            Kind::UndoVote => self.undo_vote(),
            Kind::Comment => self.comment(),
            Kind::Post => {
                let person = self.rng.gen_range(0..self.persons.len());
                Some(self.post_by(person))
            }
            Kind::Update => self.update(),
            Kind::Delete => self.delete(),
            Kind::Follow | Kind::UndoFollow => self.follow(),
        }
    }

    fn announced(
        &mut self,
        kind: Kind,
        inner: Value,
        effect: Effect,
        served: Vec<Served>,
    ) -> (Planned, Vec<Served>) {
        let label = match kind {
            Kind::Vote => "like",
            Kind::UndoVote => "undo",
            Kind::Comment | Kind::Post => "create",
            Kind::Update => "update",
            Kind::Delete => "delete",
            Kind::Follow | Kind::UndoFollow => "follow",
        };
        let uuid = self.uuid();
        let id = lemmy::activity_id(&self.base, &format!("announce/{label}"), &uuid);
        let activity = lemmy::announce(&self.community, &id, inner);
        let signer = self
            .community
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        (
            Planned {
                activity,
                id,
                kind,
                signer,
                route: Route::Shared,
                effect,
            },
            served,
        )
    }

    fn new_obj(&mut self, author: usize, parent: Option<usize>) -> usize {
        let post = parent.is_none();
        let n = if post {
            self.next_post += 1;
            self.next_post - 1
        } else {
            self.next_comment += 1;
            self.next_comment - 1
        };
        let key = ObjKey { post, n };
        let now = chrono::Utc::now();
        let id = format!(
            "{}/{}/{n}",
            self.base,
            if post { "post" } else { "comment" }
        );
        let index = self.objects.len();
        let root = parent.map_or(index, |p| self.objects[p].root);
        let reply_to = parent.map(|p| self.objects[p].id.clone());
        self.objects.push(Obj {
            key,
            id,
            author,
            created: self.pos,
            last_touched: self.pos,
            deleted: false,
            root,
            reply_to,
            published: now,
            version: now,
        });
        self.by_key.insert(key, self.objects.len() - 1);
        self.objects.len() - 1
    }

    fn post_by(&mut self, person: usize) -> (Planned, Vec<Served>) {
        let i = self.new_obj(person, None);
        let (key, id, published) = {
            let o = &self.objects[i];
            (o.key, o.id.clone(), stamp(o.published))
        };
        let title = self.text(6);
        let body = self.text(40);
        let page = lemmy::page(self.scope(person), &id, &title, &body, &published);
        let served = vec![(id.clone(), with_context(&page))];
        let uuid = self.uuid();
        let cid = lemmy::activity_id(&self.base, "create", &uuid);
        let inner = lemmy::create_or_update(self.scope(person), "Create", &cid, page);
        self.announced(Kind::Post, inner, Effect::Post(key), served)
    }

    fn comment(&mut self) -> Option<(Planned, Vec<Served>)> {
        let parent = self.pick(|_, _, _| true)?;
        let person = self.rng.gen_range(0..self.persons.len());
        let parent_id = self.objects[parent].id.clone();
        self.touch(parent);
        let i = self.new_obj(person, Some(parent));
        let (key, id, published) = {
            let o = &self.objects[i];
            (o.key, o.id.clone(), stamp(o.published))
        };
        let words = self.rng.gen_range(8..60);
        let body = self.text(words);
        let note = lemmy::note(self.scope(person), &id, &parent_id, &body, &published);
        let served = vec![(id.clone(), with_context(&note))];
        let uuid = self.uuid();
        let cid = lemmy::activity_id(&self.base, "create", &uuid);
        let inner = lemmy::create_or_update(self.scope(person), "Create", &cid, note);
        Some(self.announced(Kind::Comment, inner, Effect::Comment(key), served))
    }

    fn vote(&mut self) -> Option<(Planned, Vec<Served>)> {
        let target = self.pick(|_, _, _| true)?;
        let key = self.objects[target].key;
        // A person whose vote on it, if any, is settled (see the module notes on ordering).
        let mut person = None;
        for _ in 0..4 {
            let p = self.rng.gen_range(0..self.persons.len());
            match self.votes.get(&(p, key)) {
                Some(v) if v.at + self.lag > self.pos => continue,
                _ => {
                    person = Some(p);
                    break;
                }
            }
        }
        let person = person?;
        let mut score: i8 = if self.rng.gen_bool(0.9) { 1 } else { -1 };
        if let Some(v) = self.votes.get(&(person, key))
            && v.score == Some(score)
        {
            // Nobody sends the same vote twice: a repeated vote is a change of mind.
            score = -score;
        }
        self.votes.insert(
            (person, key),
            VoteState {
                score: Some(score),
                at: self.pos,
            },
        );
        self.recent_votes.push((person, key));
        if self.recent_votes.len() > 512 {
            self.recent_votes.drain(..256);
        }
        self.touch(target);
        let object = self.objects[target].id.clone();
        let uuid = self.uuid();
        let id = lemmy::activity_id(
            &self.base,
            if score > 0 { "like" } else { "dislike" },
            &uuid,
        );
        let inner = lemmy::vote(self.scope(person), &id, &object, score);
        Some(self.announced(
            Kind::Vote,
            inner,
            Effect::Vote {
                person,
                object: key,
                score,
            },
            Vec::new(),
        ))
    }

    fn undo_vote(&mut self) -> Option<(Planned, Vec<Served>)> {
        if self.recent_votes.is_empty() {
            return None;
        }
        for _ in 0..4 {
            let i = self.rng.gen_range(0..self.recent_votes.len());
            let (person, key) = self.recent_votes[i];
            let settled = self
                .votes
                .get(&(person, key))
                .is_some_and(|v| v.score.is_some() && v.at + self.lag <= self.pos);
            let target = self.by_key.get(&key).copied()?;
            if !settled || self.dead(target) {
                continue;
            }
            self.votes.insert(
                (person, key),
                VoteState {
                    score: None,
                    at: self.pos,
                },
            );
            self.recent_votes.swap_remove(i);
            self.touch(target);
            let object = self.objects[target].id.clone();
            let (u1, u2) = (self.uuid(), self.uuid());
            let id = lemmy::activity_id(&self.base, "undo", &u1);
            let like_id = lemmy::activity_id(&self.base, "like", &u2);
            let inner = lemmy::undo_vote(self.scope(person), &id, &like_id, &object);
            return Some(self.announced(
                Kind::UndoVote,
                inner,
                Effect::Unvote {
                    person,
                    object: key,
                },
                Vec::new(),
            ));
        }
        None
    }

    fn update(&mut self) -> Option<(Planned, Vec<Served>)> {
        let i = self.pick(|o, pos, lag| o.last_touched + lag <= pos)?;
        let now = chrono::Utc::now();
        self.touch(i);
        let o = &mut self.objects[i];
        o.version = now.max(o.version + chrono::Duration::milliseconds(1));
        let (id, author, reply_to, published, updated) = (
            o.id.clone(),
            o.author,
            o.reply_to.clone(),
            stamp(o.published),
            stamp(o.version),
        );
        let body = self.text(30);
        let mut object = match reply_to {
            None => {
                let title = self.text(6);
                lemmy::page(self.scope(author), &id, &title, &body, &published)
            }
            Some(parent) => lemmy::note(self.scope(author), &id, &parent, &body, &published),
        };
        object["updated"] = Value::String(updated);
        let served = vec![(id.clone(), with_context(&object))];
        let uuid = self.uuid();
        let uid = lemmy::activity_id(&self.base, "update", &uuid);
        let inner = lemmy::create_or_update(self.scope(author), "Update", &uid, object);
        Some(self.announced(Kind::Update, inner, Effect::Update, served))
    }

    fn delete(&mut self) -> Option<(Planned, Vec<Served>)> {
        let i = self.pick(|o, pos, lag| o.last_touched + lag <= pos)?;
        let o = &mut self.objects[i];
        o.deleted = true;
        let (key, id, author) = (o.key, o.id.clone(), o.author);
        let uuid = self.uuid();
        let did = lemmy::activity_id(&self.base, "delete", &uuid);
        let inner = lemmy::delete(self.scope(author), &did, &id);
        Some(self.announced(Kind::Delete, inner, Effect::Delete(key), Vec::new()))
    }

    fn follow(&mut self) -> Option<(Planned, Vec<Served>)> {
        let person = self.rng.gen_range(0..self.persons.len());
        self.follow_by(person)
    }

    /// A follow of the receiver's community by `person` (the warm-up has every user follow
    /// once, so that the receiver has every user's key in memory before the timed phase,
    /// as for the communities, whose keys sign every announce). `None` without a community.
    pub fn warm_up_follow(&mut self, person: usize) -> Option<(Planned, Vec<Served>)> {
        let out = self.follow_by(person)?;
        self.pos += 1;
        Some(out)
    }

    fn follow_by(&mut self, person: usize) -> Option<(Planned, Vec<Served>)> {
        let community = self.local_community.clone()?;
        let (kind, effect) = match self.follows.get(&person) {
            Some((_, at)) if at + self.lag > self.pos => return None,
            Some((true, _)) => (Kind::UndoFollow, Effect::Unfollow(person)),
            _ => (Kind::Follow, Effect::Follow(person)),
        };
        self.follows
            .insert(person, (kind == Kind::Follow, self.pos));
        let (name, pid) = self.persons[person].clone();
        let (u1, u2) = (self.uuid(), self.uuid());
        let fid = lemmy::activity_id(&self.base, "follow", &u1);
        let (id, activity) = if kind == Kind::Follow {
            (fid.clone(), lemmy::follow(&pid, &fid, &community))
        } else {
            let uid = lemmy::activity_id(&self.base, "undo", &u2);
            (
                uid.clone(),
                lemmy::undo_follow(&pid, &uid, &fid, &community),
            )
        };
        Some((
            Planned {
                activity,
                id,
                kind,
                signer: name,
                route: Route::LocalCommunity,
                effect,
            },
            Vec::new(),
        ))
    }
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn with_context(object: &Value) -> Value {
    let mut doc = object.clone();
    doc["@context"] = lemmy::context();
    doc
}

/// The end state of the receiver's tables that a set of applied activities implies.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Expected {
    /// Posts stored.
    pub posts: i64,
    /// Of which deleted.
    pub posts_deleted: i64,
    /// Comments stored.
    pub comments: i64,
    /// Of which deleted.
    pub comments_deleted: i64,
    /// Vote rows.
    pub votes: i64,
    /// Sum of their scores (= the sum of post and comment scores).
    pub vote_score: i64,
    /// Follows of the receiver's community.
    pub follows: i64,
}

impl Expected {
    /// Replays one instance's applied effects, in the order they were sent.
    pub fn replay<'a>(effects: impl IntoIterator<Item = &'a Effect>) -> Expected {
        let mut e = Expected::default();
        let mut live: HashSet<ObjKey> = HashSet::new();
        let mut votes: HashMap<(usize, ObjKey), i8> = HashMap::new();
        let mut follows: HashSet<usize> = HashSet::new();
        for effect in effects {
            match *effect {
                Effect::Post(k) => {
                    e.posts += 1;
                    live.insert(k);
                }
                Effect::Comment(k) => {
                    e.comments += 1;
                    live.insert(k);
                }
                Effect::Update => {}
                Effect::Delete(k) => {
                    if live.remove(&k) {
                        if k.post {
                            e.posts_deleted += 1;
                        } else {
                            e.comments_deleted += 1;
                        }
                    }
                }
                Effect::Vote {
                    person,
                    object,
                    score,
                } => {
                    if live.contains(&object) {
                        votes.insert((person, object), score);
                    }
                }
                Effect::Unvote { person, object } => {
                    votes.remove(&(person, object));
                }
                Effect::Follow(p) => {
                    follows.insert(p);
                }
                Effect::Unfollow(p) => {
                    follows.remove(&p);
                }
            }
        }
        e.votes = votes.len() as i64;
        e.vote_score = votes.values().map(|s| i64::from(*s)).sum();
        e.follows = follows.len() as i64;
        e
    }

    /// Adds another instance's expectations.
    pub fn add(&mut self, o: &Expected) {
        self.posts += o.posts;
        self.posts_deleted += o.posts_deleted;
        self.comments += o.comments;
        self.comments_deleted += o.comments_deleted;
        self.votes += o.votes;
        self.vote_score += o.vote_score;
        self.follows += o.follows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(window: usize) -> Generator {
        let persons = (0..4)
            .map(|i| (format!("u{i}"), format!("http://127.0.0.9:1/u/u{i}")))
            .collect();
        Generator::new(
            "http://127.0.0.9:1",
            "http://127.0.0.9:1/c/main",
            persons,
            Some("http://127.0.0.1:2/c/bench".into()),
            Mix::LEMMY,
            window,
            7,
        )
    }

    #[test]
    fn the_mix_is_mostly_votes_and_every_id_is_unique() {
        let mut g = generator(1);
        let mut ids = HashSet::new();
        let mut kinds: HashMap<Kind, usize> = HashMap::new();
        for p in 0..4 {
            g.warm_up_post(p);
        }
        for _ in 0..5000 {
            let (p, _) = g.next_activity();
            assert!(ids.insert(p.id.clone()), "duplicate id {}", p.id);
            assert_eq!(p.activity["id"], p.id.as_str());
            *kinds.entry(p.kind).or_default() += 1;
        }
        let votes = kinds[&Kind::Vote] + kinds[&Kind::UndoVote];
        assert!(votes > 3000, "{kinds:?}");
        assert!(kinds[&Kind::Comment] > kinds[&Kind::Post], "{kinds:?}");
        for k in [Kind::Update, Kind::Delete, Kind::Follow, Kind::UndoFollow] {
            assert!(kinds.get(&k).copied().unwrap_or(0) > 0, "{k:?}: {kinds:?}");
        }
    }

    #[test]
    fn references_respect_the_window() {
        let window = 8;
        let mut g = generator(window);
        let mut created_at: HashMap<String, usize> = HashMap::new();
        let mut deleted_at: HashMap<String, usize> = HashMap::new();
        let mut root: HashMap<String, String> = HashMap::new();
        let mut last_use: HashMap<String, usize> = HashMap::new();
        let mut changed_at: HashMap<String, usize> = HashMap::new();
        for i in 0..4000 {
            let (p, served) = g.next_activity();
            for (id, _) in &served {
                created_at.entry(id.clone()).or_insert(i);
            }
            let inner = &p.activity["object"];
            let target = match p.kind {
                Kind::Vote | Kind::Delete => inner["object"].as_str().map(str::to_string),
                Kind::UndoVote => inner["object"]["object"].as_str().map(str::to_string),
                Kind::Comment => inner["object"]["inReplyTo"].as_str().map(str::to_string),
                _ => None,
            };
            if p.kind == Kind::Comment {
                let parent = inner["object"]["inReplyTo"].as_str().unwrap();
                let r = root
                    .get(parent)
                    .cloned()
                    .unwrap_or_else(|| parent.to_string());
                root.insert(inner["object"]["id"].as_str().unwrap().to_string(), r);
            }
            if let Some(t) = target {
                let c = created_at[&t];
                assert!(c + window <= i, "{t} created at {c}, referred to at {i}");
                assert!(!deleted_at.contains_key(&t), "{t} used after its deletion");
                let r = root.get(&t).cloned().unwrap_or_else(|| t.clone());
                if let Some(d) = deleted_at.get(&r) {
                    panic!("{t} used at {i}, its post {r} was deleted at {d}");
                }
                if p.kind != Kind::Delete {
                    last_use.insert(r, i);
                }
            }
            // Changes to one vote or one follow are a window apart.
            let change = match p.kind {
                Kind::Vote => Some((inner["actor"].clone(), inner["object"].clone())),
                Kind::UndoVote => Some((inner["actor"].clone(), inner["object"]["object"].clone())),
                Kind::Follow | Kind::UndoFollow => {
                    Some((p.activity["actor"].clone(), Value::from("follow")))
                }
                _ => None,
            };
            if let Some(key) = change {
                let key = format!("{key:?}");
                if let Some(prev) = changed_at.insert(key.clone(), i) {
                    assert!(prev + window <= i, "{key} changed at {prev} and {i}");
                }
            }
            if p.kind == Kind::Delete {
                let t = inner["object"].as_str().unwrap().to_string();
                if let Some(u) = last_use.get(&t).filter(|_| !root.contains_key(&t)) {
                    assert!(u + window <= i, "post {t} deleted at {i}, last used at {u}");
                }
                deleted_at.insert(t, i);
            }
        }
    }

    #[test]
    fn replay_counts_what_is_left() {
        let a = ObjKey { post: true, n: 1 };
        let b = ObjKey { post: false, n: 1 };
        let e = Expected::replay(&[
            Effect::Post(a),
            Effect::Comment(b),
            Effect::Vote {
                person: 0,
                object: a,
                score: 1,
            },
            Effect::Vote {
                person: 0,
                object: a,
                score: -1,
            },
            Effect::Vote {
                person: 1,
                object: b,
                score: 1,
            },
            Effect::Unvote {
                person: 1,
                object: b,
            },
            Effect::Delete(b),
            Effect::Follow(2),
            Effect::Follow(3),
            Effect::Unfollow(2),
        ]);
        assert_eq!(
            e,
            Expected {
                posts: 1,
                posts_deleted: 0,
                comments: 1,
                comments_deleted: 1,
                votes: 1,
                vote_score: -1,
                follows: 1,
            }
        );
    }
}
