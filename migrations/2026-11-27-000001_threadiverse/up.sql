-- sluice schema, version 1. Documented table by table in docs/schema.md: the instance's own
-- application reads these tables, so column meanings are a contract.
--
-- Conventions: every federated object has a unique `ap_id` (its ActivityPub id, the key all
-- batch lookups use); `local` says whether it lives on this instance; times are timestamptz;
-- soft states (`deleted`, `removed`) keep rows so late activities can be judged against them.

CREATE TABLE instance (
    id              BIGSERIAL PRIMARY KEY,
    domain          TEXT NOT NULL UNIQUE,          -- host[:port], lower case
    software        TEXT,                          -- from nodeinfo, when known
    version         TEXT,
    shared_inbox    TEXT,                          -- preferred delivery target for the instance
    first_seen      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen       TIMESTAMPTZ,                   -- last activity received from it
    policy          TEXT NOT NULL DEFAULT 'none' CHECK (policy IN ('none', 'allow', 'block')),
    policy_reason   TEXT,
    policy_updated  TIMESTAMPTZ
);

-- Bumped by every policy change so that every sluice process reloads its in-memory copy.
CREATE TABLE policy_generation (
    singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    generation  BIGINT NOT NULL DEFAULT 0,
    mode        TEXT NOT NULL DEFAULT 'open' CHECK (mode IN ('open', 'allowlist'))
);
INSERT INTO policy_generation DEFAULT VALUES;

CREATE TABLE person (
    id              BIGSERIAL PRIMARY KEY,
    ap_id           TEXT NOT NULL UNIQUE,
    instance_id     BIGINT NOT NULL REFERENCES instance(id),
    local           BOOLEAN NOT NULL DEFAULT FALSE,
    name            TEXT NOT NULL,                 -- preferredUsername
    display_name    TEXT,
    summary         TEXT,                          -- HTML
    avatar          TEXT,
    banner          TEXT,
    inbox           TEXT NOT NULL,
    shared_inbox    TEXT,
    public_key_pem  TEXT,
    bot             BOOLEAN NOT NULL DEFAULT FALSE,
    banned          BOOLEAN NOT NULL DEFAULT FALSE, -- instance-wide ban by its home instance
    deleted         BOOLEAN NOT NULL DEFAULT FALSE, -- account deleted
    published       TIMESTAMPTZ,
    updated         TIMESTAMPTZ,                    -- remote `updated`, orders profile updates
    fetched_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX person_instance_idx ON person (instance_id);
CREATE UNIQUE INDEX person_local_name_idx ON person (lower(name)) WHERE local;

CREATE TABLE community (
    id              BIGSERIAL PRIMARY KEY,
    ap_id           TEXT NOT NULL UNIQUE,
    instance_id     BIGINT NOT NULL REFERENCES instance(id),
    local           BOOLEAN NOT NULL DEFAULT FALSE,
    name            TEXT NOT NULL,
    title           TEXT NOT NULL,
    summary         TEXT,
    icon            TEXT,
    banner          TEXT,
    inbox           TEXT NOT NULL,
    shared_inbox    TEXT,
    followers_url   TEXT,
    moderators_url  TEXT,
    featured_url    TEXT,
    public_key_pem  TEXT,
    nsfw            BOOLEAN NOT NULL DEFAULT FALSE,
    posting_restricted_to_mods BOOLEAN NOT NULL DEFAULT FALSE,
    deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    removed         BOOLEAN NOT NULL DEFAULT FALSE,
    published       TIMESTAMPTZ,
    updated         TIMESTAMPTZ,
    fetched_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX community_instance_idx ON community (instance_id);
CREATE UNIQUE INDEX community_local_name_idx ON community (lower(name)) WHERE local;

-- Key pairs of local actors (communities, persons, the instance actor). Private keys never
-- leave this table except to sign.
CREATE TABLE local_key (
    actor_ap_id     TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL UNIQUE,
    public_key_pem  TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Public keys of remote actors by keyId: the database tier of signature verification.
-- Covers every kind of signer (Person, Group, Application, Service), not only those we store.
CREATE TABLE remote_key (
    key_id          TEXT PRIMARY KEY,
    owner_ap_id     TEXT NOT NULL,
    public_key_pem  TEXT NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX remote_key_owner_idx ON remote_key (owner_ap_id);

CREATE TABLE post (
    id              BIGSERIAL PRIMARY KEY,
    ap_id           TEXT NOT NULL UNIQUE,
    community_id    BIGINT NOT NULL REFERENCES community(id),
    creator_id      BIGINT NOT NULL REFERENCES person(id),
    local           BOOLEAN NOT NULL DEFAULT FALSE,
    name            TEXT NOT NULL,                 -- title
    url             TEXT,                          -- link
    body            TEXT,                          -- HTML content
    source          TEXT,                          -- markdown source, when sent
    language        TEXT,
    nsfw            BOOLEAN NOT NULL DEFAULT FALSE,
    locked          BOOLEAN NOT NULL DEFAULT FALSE,
    featured        BOOLEAN NOT NULL DEFAULT FALSE, -- featured in its community
    deleted         BOOLEAN NOT NULL DEFAULT FALSE, -- by its author
    removed         BOOLEAN NOT NULL DEFAULT FALSE, -- by a moderator
    score           BIGINT NOT NULL DEFAULT 0,
    upvotes         BIGINT NOT NULL DEFAULT 0,
    downvotes       BIGINT NOT NULL DEFAULT 0,
    published       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated         TIMESTAMPTZ
);
CREATE INDEX post_community_idx ON post (community_id, published DESC);
CREATE INDEX post_creator_idx ON post (creator_id);

CREATE TABLE comment (
    id              BIGSERIAL PRIMARY KEY,
    ap_id           TEXT NOT NULL UNIQUE,
    post_id         BIGINT NOT NULL REFERENCES post(id),
    parent_id       BIGINT REFERENCES comment(id), -- NULL for a top-level comment
    creator_id      BIGINT NOT NULL REFERENCES person(id),
    local           BOOLEAN NOT NULL DEFAULT FALSE,
    content         TEXT NOT NULL,                 -- HTML
    source          TEXT,
    language        TEXT,
    distinguished   BOOLEAN NOT NULL DEFAULT FALSE,
    locked          BOOLEAN NOT NULL DEFAULT FALSE,
    deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    removed         BOOLEAN NOT NULL DEFAULT FALSE,
    score           BIGINT NOT NULL DEFAULT 0,
    upvotes         BIGINT NOT NULL DEFAULT 0,
    downvotes       BIGINT NOT NULL DEFAULT 0,
    published       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated         TIMESTAMPTZ
);
CREATE INDEX comment_post_idx ON comment (post_id);
CREATE INDEX comment_parent_idx ON comment (parent_id);
CREATE INDEX comment_creator_idx ON comment (creator_id);

-- One vote per person and object; score is +1 or -1. Exactly one of post_id / comment_id.
CREATE TABLE vote (
    id              BIGSERIAL PRIMARY KEY,
    person_id       BIGINT NOT NULL REFERENCES person(id),
    post_id         BIGINT REFERENCES post(id),
    comment_id      BIGINT REFERENCES comment(id),
    score           SMALLINT NOT NULL CHECK (score IN (-1, 1)),
    activity_id     TEXT,                          -- the Like/Dislike, for Undo by id
    published       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((post_id IS NULL) <> (comment_id IS NULL))
);
CREATE UNIQUE INDEX vote_person_post_idx ON vote (person_id, post_id) WHERE post_id IS NOT NULL;
CREATE UNIQUE INDEX vote_person_comment_idx ON vote (person_id, comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX vote_activity_idx ON vote (activity_id);

-- Who follows which community, in both directions: remote persons following local
-- communities (our delivery audience) and local persons following remote ones (whose
-- announced content we keep).
CREATE TABLE community_follow (
    id              BIGSERIAL PRIMARY KEY,
    community_id    BIGINT NOT NULL REFERENCES community(id),
    person_id       BIGINT NOT NULL REFERENCES person(id),
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted')),
    activity_id     TEXT,                          -- the Follow
    published       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (community_id, person_id)
);
CREATE INDEX community_follow_person_idx ON community_follow (person_id);

CREATE TABLE community_moderator (
    community_id    BIGINT NOT NULL REFERENCES community(id),
    person_id       BIGINT NOT NULL REFERENCES person(id),
    published       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, person_id)
);

-- Bans: community_id set = banned from that community; NULL = banned instance-wide by the
-- person's home instance (also reflected in person.banned).
CREATE TABLE ban (
    id              BIGSERIAL PRIMARY KEY,
    person_id       BIGINT NOT NULL REFERENCES person(id),
    community_id    BIGINT REFERENCES community(id),
    moderator_id    BIGINT REFERENCES person(id),
    reason          TEXT,
    expires         TIMESTAMPTZ,
    activity_id     TEXT,
    published       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ban_person_community_idx ON ban (person_id, coalesce(community_id, 0));

CREATE TABLE private_message (
    id              BIGSERIAL PRIMARY KEY,
    ap_id           TEXT NOT NULL UNIQUE,
    creator_id      BIGINT NOT NULL REFERENCES person(id),
    recipient_id    BIGINT NOT NULL REFERENCES person(id),
    content         TEXT NOT NULL,
    source          TEXT,
    deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    published       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated         TIMESTAMPTZ
);
CREATE INDEX private_message_recipient_idx ON private_message (recipient_id);

CREATE TABLE report (
    id              BIGSERIAL PRIMARY KEY,
    ap_id           TEXT NOT NULL UNIQUE,          -- the Flag
    creator_id      BIGINT NOT NULL REFERENCES person(id),
    community_id    BIGINT REFERENCES community(id),
    post_id         BIGINT REFERENCES post(id),
    comment_id      BIGINT REFERENCES comment(id),
    object_ap_id    TEXT NOT NULL,                 -- what was reported, even if unknown here
    reason          TEXT,
    resolved        BOOLEAN NOT NULL DEFAULT FALSE,
    published       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Moderation actions as received (Remove, Lock, Ban, Feature, ...), for the mod log.
CREATE TABLE mod_action (
    id              BIGSERIAL PRIMARY KEY,
    activity_id     TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,                 -- e.g. remove_post, lock_post, ban, add_mod
    moderator_id    BIGINT REFERENCES person(id),
    community_id    BIGINT REFERENCES community(id),
    target_ap_id    TEXT NOT NULL,
    reason          TEXT,
    published       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The received-activity journal. The inbox writes one row per accepted activity and
-- answers the sender only once it is committed; the pipeline claims rows in id order.
CREATE TABLE received_activity (
    id              BIGSERIAL PRIMARY KEY,         -- journal order
    activity_id     TEXT NOT NULL UNIQUE,          -- dedup key
    actor           TEXT NOT NULL,
    kind            TEXT NOT NULL,                 -- top-level type
    raw             JSONB NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'done', 'ignored', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner     TEXT,                          -- node id holding the row while processing
    lease_until     TIMESTAMPTZ,
    error_code      TEXT,                          -- stable rc when ignored or failed
    error           TEXT,
    processed_at    TIMESTAMPTZ
);
-- The claim scan and the depth/lag gauges read only unprocessed rows.
CREATE INDEX received_activity_pending_idx ON received_activity (id) WHERE state = 'pending';
CREATE INDEX received_activity_failed_idx ON received_activity (id) WHERE state = 'failed';

-- sluice processes sharing this database, for leases on journal rows and delivery workers.
CREATE TABLE node (
    id              TEXT PRIMARY KEY,
    hostname        TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The outbound activity log: every activity to send, appended once, in send order.
CREATE TABLE outbound_activity (
    id              BIGSERIAL PRIMARY KEY,
    activity_id     TEXT NOT NULL,
    actor_ap_id     TEXT NOT NULL,                 -- the local actor that signs it
    raw             JSONB NOT NULL,
    object_ap_id    TEXT,                          -- what it is about (ordering on the wire)
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outbound_activity_activity_idx ON outbound_activity (activity_id);

-- The audience of each outbound activity, resolved once at append time: one row per
-- remote instance, with the inbox(es) to deliver to there (its shared inbox when known).
CREATE TABLE outbound_target (
    outbound_id     BIGINT NOT NULL REFERENCES outbound_activity(id) ON DELETE CASCADE,
    instance_id     BIGINT NOT NULL REFERENCES instance(id),
    inboxes         TEXT[] NOT NULL,
    PRIMARY KEY (instance_id, outbound_id)
);

-- Per-remote-instance delivery cursor and health.
CREATE TABLE delivery_state (
    instance_id         BIGINT PRIMARY KEY REFERENCES instance(id),
    last_delivered_id   BIGINT NOT NULL DEFAULT 0, -- every outbound id <= this is done
    fail_count          INTEGER NOT NULL DEFAULT 0,
    next_retry_at       TIMESTAMPTZ,
    first_failure_at    TIMESTAMPTZ,               -- start of the current failing streak
    last_success_at     TIMESTAMPTZ,
    last_failure_at     TIMESTAMPTZ,
    last_error          TEXT,
    state               TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'dead')),
    lease_owner         TEXT,                      -- node running this instance's worker
    lease_until         TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Deliveries given up for good (4xx), kept for the admin.
CREATE TABLE delivery_failure (
    id              BIGSERIAL PRIMARY KEY,
    outbound_id     BIGINT NOT NULL REFERENCES outbound_activity(id) ON DELETE CASCADE,
    instance_id     BIGINT NOT NULL REFERENCES instance(id),
    inbox           TEXT NOT NULL,
    status          INTEGER,
    error_code      TEXT NOT NULL,
    error           TEXT,
    failed_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
