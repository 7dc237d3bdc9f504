//! The write round: one transaction of multi-row statements (`Conn::run_tx`: `BEGIN` and
//! every statement in one flight, `COMMIT` in a second).
//!
//! Statements run in the order sent, so later ones see earlier ones' rows: instances, then
//! actors, then content, then what refers to content, then the outbound log, then the
//! journal marks. References are ActivityPub ids joined in SQL; a reference that does not
//! resolve drops that row instead of failing the batch. Inputs are sorted by key so two
//! processes writing the same rows lock them in the same order.
//!
//! Remote input never changes a local actor, community or key: the pipeline refuses it, and
//! every actor statement here says so again (`NOT local`, no `remote_key` row for a local
//! owner), so a rule missed upstream cannot reach our own rows.

use super::changes::Changes;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;
use futures::future::BoxFuture;

type Stmt<'a> = BoxFuture<'a, diesel::QueryResult<usize>>;
type Texts = Vec<String>;
type OptTexts = Vec<Option<String>>;
type Times = Vec<Option<DateTime<Utc>>>;

fn col<T, U>(items: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    items.iter().map(f).collect()
}

const INSTANCES: &str = "\
INSERT INTO instance (domain)
SELECT DISTINCT d FROM UNNEST($1::text[]) AS t(d) ORDER BY d
ON CONFLICT (domain) DO NOTHING";

const PERSONS: &str = "\
INSERT INTO person (ap_id, instance_id, name, display_name, summary, avatar, banner, inbox,
    shared_inbox, public_key_pem, bot, banned, deleted, published, updated)
SELECT t.ap_id, i.id, t.name, t.display_name, t.summary, t.avatar, t.banner, t.inbox,
    t.shared_inbox, t.pem, t.bot, t.banned, t.deleted, t.published, t.updated
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::bool[], $12::bool[], $13::bool[],
    $14::timestamptz[], $15::timestamptz[])
    AS t(ap_id, domain, name, display_name, summary, avatar, banner, inbox, shared_inbox, pem,
        bot, banned, deleted, published, updated)
JOIN instance i ON i.domain = t.domain
ORDER BY t.ap_id
ON CONFLICT (ap_id) DO UPDATE SET name = excluded.name, display_name = excluded.display_name,
    summary = excluded.summary, avatar = excluded.avatar, banner = excluded.banner,
    inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,
    public_key_pem = COALESCE(excluded.public_key_pem, person.public_key_pem),
    bot = excluded.bot, banned = excluded.banned, deleted = excluded.deleted,
    published = COALESCE(excluded.published, person.published), updated = excluded.updated,
    fetched_at = now()
WHERE NOT person.local";

const PERSON_FLAGS: &str = "\
UPDATE person p SET banned = t.banned, deleted = t.deleted
FROM UNNEST($1::text[], $2::bool[], $3::bool[]) AS t(ap_id, banned, deleted)
WHERE p.ap_id = t.ap_id AND NOT p.local";

/// Keys of local actors are never written from remote input (their keys are `local_key`'s),
/// and a stored key keeps its owner.
const KEYS: &str = "\
INSERT INTO remote_key (key_id, owner_ap_id, public_key_pem)
SELECT t.key_id, t.owner, t.pem
FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(key_id, owner, pem)
WHERE NOT EXISTS (SELECT 1 FROM local_key l WHERE l.actor_ap_id = t.owner OR l.key_id = t.key_id)
    AND NOT EXISTS (SELECT 1 FROM person p WHERE p.ap_id = t.owner AND p.local)
    AND NOT EXISTS (SELECT 1 FROM community c WHERE c.ap_id = t.owner AND c.local)
ORDER BY 1
ON CONFLICT (key_id) DO UPDATE SET public_key_pem = excluded.public_key_pem, fetched_at = now()
WHERE remote_key.owner_ap_id = excluded.owner_ap_id";

const COMMUNITIES: &str = "\
INSERT INTO community (ap_id, instance_id, name, title, summary, icon, banner, inbox,
    shared_inbox, followers_url, moderators_url, featured_url, public_key_pem, nsfw,
    posting_restricted_to_mods, deleted, removed, published, updated)
SELECT t.ap_id, i.id, t.name, t.title, t.summary, t.icon, t.banner, t.inbox, t.shared_inbox,
    t.followers_url, t.moderators_url, t.featured_url, t.pem, t.nsfw, t.restricted, t.deleted,
    t.removed, t.published, t.updated
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bool[],
    $15::bool[], $16::bool[], $17::bool[], $18::timestamptz[], $19::timestamptz[])
    AS t(ap_id, domain, name, title, summary, icon, banner, inbox, shared_inbox, followers_url,
        moderators_url, featured_url, pem, nsfw, restricted, deleted, removed, published,
        updated)
JOIN instance i ON i.domain = t.domain
ORDER BY t.ap_id
ON CONFLICT (ap_id) DO UPDATE SET name = excluded.name, title = excluded.title,
    summary = excluded.summary, icon = excluded.icon, banner = excluded.banner,
    inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,
    followers_url = excluded.followers_url, moderators_url = excluded.moderators_url,
    featured_url = excluded.featured_url,
    public_key_pem = COALESCE(excluded.public_key_pem, community.public_key_pem),
    nsfw = excluded.nsfw, posting_restricted_to_mods = excluded.posting_restricted_to_mods,
    deleted = excluded.deleted, removed = excluded.removed,
    published = COALESCE(excluded.published, community.published), updated = excluded.updated,
    fetched_at = now()
WHERE NOT community.local";

const COMMUNITY_FLAGS: &str = "\
UPDATE community c SET deleted = t.deleted, removed = t.removed
FROM UNNEST($1::text[], $2::bool[], $3::bool[]) AS t(ap_id, deleted, removed)
WHERE c.ap_id = t.ap_id AND NOT c.local";

const MODERATORS: &str = "\
WITH r AS (
    SELECT c.id AS community_id, p.id AS person_id, t.present
    FROM UNNEST($1::text[], $2::text[], $3::bool[]) AS t(community, person, present)
    JOIN community c ON c.ap_id = t.community JOIN person p ON p.ap_id = t.person
), del AS (
    DELETE FROM community_moderator m USING r
    WHERE NOT r.present AND m.community_id = r.community_id AND m.person_id = r.person_id
)
INSERT INTO community_moderator (community_id, person_id)
SELECT community_id, person_id FROM r WHERE present ORDER BY 1, 2
ON CONFLICT DO NOTHING";

const POSTS: &str = "\
INSERT INTO post (ap_id, community_id, creator_id, local, name, url, body, source, language,
    nsfw, locked, featured, deleted, removed, published, updated)
SELECT t.ap_id, c.id, p.id, p.local, t.name, t.url, t.body, t.source, t.language, t.nsfw, t.locked,
    t.featured, t.deleted, t.removed, COALESCE(t.published, now()), t.updated
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::bool[], $10::bool[], $11::bool[], $12::bool[], $13::bool[],
    $14::timestamptz[], $15::timestamptz[])
    AS t(ap_id, community, creator, name, url, body, source, language, nsfw, locked, featured,
        deleted, removed, published, updated)
JOIN community c ON c.ap_id = t.community JOIN person p ON p.ap_id = t.creator
ORDER BY t.ap_id
ON CONFLICT (ap_id) DO UPDATE SET name = excluded.name, url = excluded.url,
    body = excluded.body, source = excluded.source, language = excluded.language,
    nsfw = excluded.nsfw, locked = excluded.locked, featured = excluded.featured,
    deleted = excluded.deleted, removed = excluded.removed, updated = excluded.updated";

const POST_FLAGS: &str = "\
UPDATE post p SET locked = t.locked, featured = t.featured, deleted = t.deleted,
    removed = t.removed
FROM UNNEST($1::text[], $2::bool[], $3::bool[], $4::bool[], $5::bool[])
    AS t(ap_id, locked, featured, deleted, removed)
WHERE p.ap_id = t.ap_id";

const COMMENTS: &str = "\
INSERT INTO comment (ap_id, post_id, parent_id, creator_id, local, content, source, language,
    distinguished, locked, deleted, removed, published, updated)
SELECT t.ap_id, po.id, par.id, p.id, p.local, t.content, t.source, t.language, t.distinguished,
    t.locked, t.deleted, t.removed, COALESCE(t.published, now()), t.updated
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::bool[], $9::bool[], $10::bool[], $11::bool[], $12::timestamptz[], $13::timestamptz[])
    AS t(ap_id, post, parent, creator, content, source, language, distinguished, locked,
        deleted, removed, published, updated)
JOIN post po ON po.ap_id = t.post JOIN person p ON p.ap_id = t.creator
LEFT JOIN comment par ON par.ap_id = t.parent
ORDER BY t.ap_id
ON CONFLICT (ap_id) DO UPDATE SET content = excluded.content, source = excluded.source,
    language = excluded.language, distinguished = excluded.distinguished,
    locked = excluded.locked, deleted = excluded.deleted, removed = excluded.removed,
    updated = excluded.updated";

/// Replies to comments inserted by the same statement could not see their parent's id.
const COMMENT_PARENTS: &str = "\
UPDATE comment c SET parent_id = par.id
FROM UNNEST($1::text[], $2::text[]) AS t(ap_id, parent)
JOIN comment par ON par.ap_id = t.parent
WHERE c.ap_id = t.ap_id AND c.parent_id IS DISTINCT FROM par.id";

const COMMENT_FLAGS: &str = "\
UPDATE comment c SET locked = t.locked, deleted = t.deleted, removed = t.removed
FROM UNNEST($1::text[], $2::bool[], $3::bool[], $4::bool[]) AS t(ap_id, locked, deleted, removed)
WHERE c.ap_id = t.ap_id";

const MESSAGES: &str = "\
INSERT INTO private_message (ap_id, creator_id, recipient_id, content, source, deleted,
    published, updated)
SELECT t.ap_id, cr.id, re.id, t.content, t.source, t.deleted, COALESCE(t.published, now()),
    t.updated
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
    $7::timestamptz[], $8::timestamptz[])
    AS t(ap_id, creator, recipient, content, source, deleted, published, updated)
JOIN person cr ON cr.ap_id = t.creator JOIN person re ON re.ap_id = t.recipient
ORDER BY t.ap_id
ON CONFLICT (ap_id) DO UPDATE SET content = excluded.content, source = excluded.source,
    deleted = excluded.deleted, updated = excluded.updated";

const MESSAGE_FLAGS: &str = "\
UPDATE private_message m SET deleted = t.deleted
FROM UNNEST($1::text[], $2::bool[]) AS t(ap_id, deleted)
WHERE m.ap_id = t.ap_id";

// Locks the posts and comments voted on before the votes are read: every batch voting on
// an object waits here for any other batch voting on it to commit, so the next statement's
// snapshot holds every vote on it. (Two processes, or two processors of one, may run
// batches about the same object at once; each batch's view was looked up before the other
// wrote.) `FOR NO KEY UPDATE`, as the score update itself: a vote's foreign key takes
// `FOR KEY SHARE`, which does not wait for it.
const VOTE_LOCKS: &str = "\
WITH p AS (
    SELECT id FROM post WHERE ap_id = ANY($1::text[]) ORDER BY ap_id FOR NO KEY UPDATE
), c AS (
    SELECT id FROM comment WHERE ap_id = ANY($2::text[]) ORDER BY ap_id FOR NO KEY UPDATE
)
SELECT (SELECT count(*) FROM p) + (SELECT count(*) FROM c) AS n";

// The votes, and the objects' counts moved by what each vote was before, as stored now (under
// the locks above), not as the batch's view saw it: a count is never moved twice for one
// change or left behind by another batch's.
const VOTES: &str = "\
WITH r AS (
    SELECT pe.id AS person_id, po.id AS post_id, co.id AS comment_id, t.score, t.activity_id,
        t.person, t.object
    FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::smallint[], $5::text[])
        AS t(person, object, on_post, score, activity_id)
    JOIN person pe ON pe.ap_id = t.person
    LEFT JOIN post po ON t.on_post AND po.ap_id = t.object
    LEFT JOIN comment co ON NOT t.on_post AND co.ap_id = t.object
    WHERE po.id IS NOT NULL OR co.id IS NOT NULL
), was AS (
    SELECT r.post_id, r.comment_id, r.score AS now_score, coalesce(v.score, 0) AS old_score
    FROM r LEFT JOIN vote v ON v.person_id = r.person_id
        AND (v.post_id = r.post_id OR v.comment_id = r.comment_id)
), d AS (
    SELECT post_id, comment_id, sum(now_score - old_score) AS score,
        sum((now_score = 1)::int - (old_score = 1)::int) AS up,
        sum((now_score = -1)::int - (old_score = -1)::int) AS down
    FROM was GROUP BY post_id, comment_id
), del AS (
    DELETE FROM vote v USING r WHERE r.score = 0 AND v.person_id = r.person_id
        AND (v.post_id = r.post_id OR v.comment_id = r.comment_id)
), on_posts AS (
    INSERT INTO vote (person_id, post_id, score, activity_id)
    SELECT person_id, post_id, score, activity_id FROM r
    WHERE score <> 0 AND post_id IS NOT NULL ORDER BY person, object
    ON CONFLICT (person_id, post_id) WHERE post_id IS NOT NULL
    DO UPDATE SET score = excluded.score, activity_id = excluded.activity_id, published = now()
), on_comments AS (
    INSERT INTO vote (person_id, comment_id, score, activity_id)
    SELECT person_id, comment_id, score, activity_id FROM r
    WHERE score <> 0 AND comment_id IS NOT NULL ORDER BY person, object
    ON CONFLICT (person_id, comment_id) WHERE comment_id IS NOT NULL
    DO UPDATE SET score = excluded.score, activity_id = excluded.activity_id, published = now()
), p AS (
    UPDATE post SET score = post.score + d.score, upvotes = post.upvotes + d.up,
        downvotes = post.downvotes + d.down
    FROM d WHERE post.id = d.post_id
)
UPDATE comment SET score = comment.score + d.score, upvotes = comment.upvotes + d.up,
    downvotes = comment.downvotes + d.down
FROM d WHERE comment.id = d.comment_id";

const FOLLOWS: &str = "\
WITH r AS (
    SELECT c.id AS community_id, p.id AS person_id, t.state, t.activity_id
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
        AS t(community, person, state, activity_id)
    JOIN community c ON c.ap_id = t.community JOIN person p ON p.ap_id = t.person
), del AS (
    DELETE FROM community_follow f USING r
    WHERE r.state IS NULL AND f.community_id = r.community_id AND f.person_id = r.person_id
)
INSERT INTO community_follow (community_id, person_id, state, activity_id)
SELECT community_id, person_id, state, activity_id FROM r WHERE state IS NOT NULL ORDER BY 1, 2
ON CONFLICT (community_id, person_id) DO UPDATE SET state = excluded.state,
    activity_id = COALESCE(excluded.activity_id, community_follow.activity_id)";

const BANS: &str = "\
WITH r AS (
    SELECT p.id AS person_id, c.id AS community_id, m.id AS moderator_id, t.reason, t.expires,
        t.activity_id, t.present
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
        $7::bool[]) AS t(person, community, moderator, reason, expires, activity_id, present)
    JOIN person p ON p.ap_id = t.person
    LEFT JOIN community c ON c.ap_id = t.community
    LEFT JOIN person m ON m.ap_id = t.moderator
    WHERE t.community IS NULL OR c.id IS NOT NULL
), del AS (
    DELETE FROM ban b USING r
    WHERE NOT r.present AND b.person_id = r.person_id
        AND COALESCE(b.community_id, 0) = COALESCE(r.community_id, 0)
)
INSERT INTO ban (person_id, community_id, moderator_id, reason, expires, activity_id)
SELECT person_id, community_id, moderator_id, reason, expires, activity_id FROM r
WHERE present ORDER BY 1, 2
ON CONFLICT (person_id, (COALESCE(community_id, 0))) DO UPDATE SET
    moderator_id = excluded.moderator_id, reason = excluded.reason, expires = excluded.expires,
    activity_id = excluded.activity_id, published = now()";

const SWEEPS: &str = "\
WITH r AS (
    SELECT p.id AS person_id, c.id AS community_id, t.removed
    FROM UNNEST($1::text[], $2::text[], $3::bool[]) AS t(person, community, removed)
    JOIN person p ON p.ap_id = t.person LEFT JOIN community c ON c.ap_id = t.community
    WHERE t.community IS NULL OR c.id IS NOT NULL
), posts AS (
    UPDATE post SET removed = post.removed OR r.removed, deleted = post.deleted OR NOT r.removed
    FROM r WHERE post.creator_id = r.person_id
        AND (r.community_id IS NULL OR post.community_id = r.community_id)
)
UPDATE comment SET removed = comment.removed OR r.removed,
    deleted = comment.deleted OR NOT r.removed
FROM r WHERE comment.creator_id = r.person_id
    AND (r.community_id IS NULL
        OR comment.post_id IN (SELECT id FROM post WHERE community_id = r.community_id))";

const REPORTS: &str = "\
WITH resolved AS (
    UPDATE report SET resolved = true WHERE ap_id = ANY($1::text[]) AND NOT resolved
)
INSERT INTO report (ap_id, creator_id, community_id, post_id, comment_id, object_ap_id, reason,
    resolved)
SELECT t.ap_id, p.id, c.id, po.id, co.id, t.object, t.reason, t.resolved
FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[])
    AS t(ap_id, creator, community, object, reason, resolved)
JOIN person p ON p.ap_id = t.creator
LEFT JOIN community c ON c.ap_id = t.community
LEFT JOIN post po ON po.ap_id = t.object
LEFT JOIN comment co ON co.ap_id = t.object
ORDER BY t.ap_id
ON CONFLICT (ap_id) DO NOTHING";

const MOD_ACTIONS: &str = "\
INSERT INTO mod_action (activity_id, kind, moderator_id, community_id, target_ap_id, reason)
SELECT t.activity_id, t.kind, m.id, c.id, t.target, t.reason
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
    AS t(activity_id, kind, moderator, community, target, reason)
LEFT JOIN person m ON m.ap_id = t.moderator
LEFT JOIN community c ON c.ap_id = t.community
ORDER BY t.activity_id
ON CONFLICT (activity_id) DO NOTHING";

const MEMORY: &str = "\
WITH t AS (
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bool[])
        AS t(key, journal_id, activity_id, present)
), gc AS (
    DELETE FROM ingest_memory WHERE $5 AND created_at < now() - interval '30 days'
), del AS (
    DELETE FROM ingest_memory m USING t WHERE NOT t.present AND m.key = t.key
)
INSERT INTO ingest_memory (key, journal_id, activity_id)
SELECT key, journal_id, activity_id FROM t WHERE present ORDER BY key
ON CONFLICT (key) DO UPDATE SET
    journal_id = GREATEST(ingest_memory.journal_id, excluded.journal_id),
    activity_id = excluded.activity_id, created_at = now()";

fn instances<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    crate::sql(INSTANCES)
        .bind::<Array<Text>, _>(ch.instances.clone())
        .execute(&mut &*c)
        .boxed()
}

fn persons<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.persons;
    crate::sql(PERSONS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.domain.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.name.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.display_name.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.summary.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.avatar.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.banner.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.inbox.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.shared_inbox.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.public_key_pem.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.bot))
        .bind::<Array<Bool>, _>(col(r, |x| x.banned))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.published))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.updated))
        .execute(&mut &*c)
        .boxed()
}

fn person_flags<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.person_flags;
    crate::sql(PERSON_FLAGS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.banned))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .execute(&mut &*c)
        .boxed()
}

fn keys<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.keys;
    crate::sql(KEYS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.key_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.owner.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.pem.clone()))
        .execute(&mut &*c)
        .boxed()
}

fn communities<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.communities;
    crate::sql(COMMUNITIES)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.domain.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.name.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.title.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.summary.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.icon.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.banner.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.inbox.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.shared_inbox.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.followers_url.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.moderators_url.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.featured_url.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.public_key_pem.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.nsfw))
        .bind::<Array<Bool>, _>(col(r, |x| x.posting_restricted_to_mods))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Bool>, _>(col(r, |x| x.removed))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.published))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.updated))
        .execute(&mut &*c)
        .boxed()
}

fn community_flags<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.community_flags;
    crate::sql(COMMUNITY_FLAGS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Bool>, _>(col(r, |x| x.removed))
        .execute(&mut &*c)
        .boxed()
}

fn moderators<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.moderators;
    crate::sql(MODERATORS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.community.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.person.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.present))
        .execute(&mut &*c)
        .boxed()
}

fn posts<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.posts;
    crate::sql(POSTS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.community.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.creator.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.name.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.url.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.body.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.source.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.language.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.nsfw))
        .bind::<Array<Bool>, _>(col(r, |x| x.locked))
        .bind::<Array<Bool>, _>(col(r, |x| x.featured))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Bool>, _>(col(r, |x| x.removed))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.published))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.updated))
        .execute(&mut &*c)
        .boxed()
}

fn post_flags<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.post_flags;
    crate::sql(POST_FLAGS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.locked))
        .bind::<Array<Bool>, _>(col(r, |x| x.featured))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Bool>, _>(col(r, |x| x.removed))
        .execute(&mut &*c)
        .boxed()
}

fn comments<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.comments;
    crate::sql(COMMENTS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.post.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.parent.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.creator.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.content.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.source.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.language.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.distinguished))
        .bind::<Array<Bool>, _>(col(r, |x| x.locked))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Bool>, _>(col(r, |x| x.removed))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.published))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.updated))
        .execute(&mut &*c)
        .boxed()
}

fn comment_parents<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r: Vec<_> = ch.comments.iter().filter(|x| x.parent.is_some()).collect();
    crate::sql(COMMENT_PARENTS)
        .bind::<Array<Text>, Texts>(col(&r, |x| x.ap_id.clone()))
        .bind::<Array<Text>, Texts>(col(&r, |x| x.parent.clone().unwrap_or_default()))
        .execute(&mut &*c)
        .boxed()
}

fn comment_flags<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.comment_flags;
    crate::sql(COMMENT_FLAGS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.locked))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Bool>, _>(col(r, |x| x.removed))
        .execute(&mut &*c)
        .boxed()
}

fn messages<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.messages;
    crate::sql(MESSAGES)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.creator.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.recipient.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.content.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.source.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.published))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.updated))
        .execute(&mut &*c)
        .boxed()
}

fn message_flags<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.message_flags;
    crate::sql(MESSAGE_FLAGS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.deleted))
        .execute(&mut &*c)
        .boxed()
}

fn vote_locks<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let objects = |on_post: bool| -> Texts {
        let mut v: Texts = ch
            .votes
            .iter()
            .filter(|x| x.on_post == on_post)
            .map(|x| x.object.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    crate::sql(VOTE_LOCKS)
        .bind::<Array<Text>, Texts>(objects(true))
        .bind::<Array<Text>, Texts>(objects(false))
        .execute(&mut &*c)
        .boxed()
}

fn votes<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.votes;
    crate::sql(VOTES)
        .bind::<Array<Text>, Texts>(col(r, |x| x.person.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.object.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.on_post))
        .bind::<Array<SmallInt>, _>(col(r, |x| x.score))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.activity_id.clone()))
        .execute(&mut &*c)
        .boxed()
}

fn follows<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.follows;
    crate::sql(FOLLOWS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.community.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.person.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.state.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.activity_id.clone()))
        .execute(&mut &*c)
        .boxed()
}

fn bans<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.bans;
    crate::sql(BANS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.person.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.community.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.moderator.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.reason.clone()))
        .bind::<Array<Nullable<Timestamptz>>, Times>(col(r, |x| x.expires))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.activity_id.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.present))
        .execute(&mut &*c)
        .boxed()
}

fn sweeps<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.sweeps;
    crate::sql(SWEEPS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.person.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.community.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.removed))
        .execute(&mut &*c)
        .boxed()
}

fn reports<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.reports;
    crate::sql(REPORTS)
        .bind::<Array<Text>, Texts>(ch.resolved_reports.clone())
        .bind::<Array<Text>, Texts>(col(r, |x| x.ap_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.creator.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.community.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.object.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.reason.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.resolved))
        .execute(&mut &*c)
        .boxed()
}

fn mod_actions<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.mod_actions;
    crate::sql(MOD_ACTIONS)
        .bind::<Array<Text>, Texts>(col(r, |x| x.activity_id.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.kind.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.moderator.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.community.clone()))
        .bind::<Array<Text>, Texts>(col(r, |x| x.target.clone()))
        .bind::<Array<Nullable<Text>>, OptTexts>(col(r, |x| x.reason.clone()))
        .execute(&mut &*c)
        .boxed()
}

fn memory<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    let r = &ch.memory;
    crate::sql(MEMORY)
        .bind::<Array<Text>, Texts>(col(r, |x| x.key.clone()))
        .bind::<Array<BigInt>, _>(col(r, |x| x.journal_id))
        .bind::<Array<Text>, Texts>(col(r, |x| x.activity_id.clone()))
        .bind::<Array<Bool>, _>(col(r, |x| x.present))
        .bind::<Bool, _>(ch.memory_gc)
        .execute(&mut &*c)
        .boxed()
}

fn decisions<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> Stmt<'a> {
    super::decisions::insert(c, &ch.decisions)
}

/// Which statements a write sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Those with rows to write.
    WithRows,
    /// Every statement, empty ones too, so that each is prepared on the connection.
    Every,
}

/// The statements of `ch` that have rows, in dependency order, as one future. Call it
/// inside `Conn::run_tx`'s closure, not in an `async` block: every statement's SQL and binds
/// are built here, before `BEGIN` leaves, so that the whole transaction body follows `BEGIN`
/// in the same flight (work done between sends lets a fast server answer in between, which
/// costs a flight).
pub fn write<'a>(c: &'a AsyncPgConnection, ch: &Changes) -> BoxFuture<'a, diesel::QueryResult<()>> {
    statements(c, ch, Which::WithRows)
}

/// Every write statement, sent with no rows (it changes nothing), so that a fresh connection
/// has them all prepared; inside `Conn::run_tx`'s closure, as [`write`].
pub fn warm<'a>(c: &'a AsyncPgConnection) -> BoxFuture<'a, diesel::QueryResult<()>> {
    statements(c, &Changes::default(), Which::Every)
}

fn statements<'a>(
    c: &'a AsyncPgConnection,
    ch: &Changes,
    which: Which,
) -> BoxFuture<'a, diesel::QueryResult<()>> {
    let all = which == Which::Every;
    let mut stmts: Vec<Stmt<'a>> = Vec::new();
    let mut add =
        |nonempty: bool, s: for<'x, 'y> fn(&'x AsyncPgConnection, &'y Changes) -> Stmt<'x>| {
            if all || nonempty {
                stmts.push(s(c, ch));
            }
        };
    add(!ch.instances.is_empty(), instances);
    add(!ch.persons.is_empty(), persons);
    add(!ch.person_flags.is_empty(), person_flags);
    add(!ch.keys.is_empty(), keys);
    add(!ch.communities.is_empty(), communities);
    add(!ch.community_flags.is_empty(), community_flags);
    add(!ch.moderators.is_empty(), moderators);
    add(!ch.posts.is_empty(), posts);
    add(!ch.post_flags.is_empty(), post_flags);
    add(!ch.comments.is_empty(), comments);
    add(
        ch.comments.iter().any(|x| x.parent.is_some()),
        comment_parents,
    );
    add(!ch.comment_flags.is_empty(), comment_flags);
    add(!ch.messages.is_empty(), messages);
    add(!ch.message_flags.is_empty(), message_flags);
    add(!ch.votes.is_empty(), vote_locks);
    add(!ch.votes.is_empty(), votes);
    add(!ch.follows.is_empty(), follows);
    add(!ch.bans.is_empty(), bans);
    add(!ch.sweeps.is_empty(), sweeps);
    add(
        !ch.reports.is_empty() || !ch.resolved_reports.is_empty(),
        reports,
    );
    add(!ch.mod_actions.is_empty(), mod_actions);
    add(!ch.memory.is_empty() || ch.memory_gc, memory);
    add(!ch.decisions.is_empty(), decisions);
    let outbound = ch.outbound.clone();
    let outbound = async move {
        if all {
            crate::outbound::warm(c).await
        } else {
            crate::outbound::append(c, &outbound).await.map(|_| ())
        }
    };
    let journal = (all || !ch.journal.is_empty()).then(|| super::journal::mark(c, &ch.journal));
    async move {
        // `try_join!` polls in argument order: the statements, then the outbound log, then
        // the journal marks leave in that order, in one flight.
        let journal = async move {
            match journal {
                Some(j) => j.await.map(|_| ()),
                None => Ok(()),
            }
        };
        futures::try_join!(futures::future::try_join_all(stmts), outbound, journal)?;
        Ok(())
    }
    .boxed()
}
