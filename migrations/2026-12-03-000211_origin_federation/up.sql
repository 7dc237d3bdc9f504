-- What other instances publish about whom they federate with (docs/security.md,
-- "Protected boosts"). An origin in allow-list mode (its published list of allowed
-- instances is not empty) has what its members send to our communities relayed only to
-- the follower instances it allows; the filter is part of the append statement.

-- One row per origin instance whose list is read: the instances of remote followers of
-- our communities. `allowlist` and the `origin_allowed` rows are the last list read
-- successfully; a failed read keeps them and is retried later (`next_fetch_at`).
CREATE TABLE origin_federation (
    origin          TEXT PRIMARY KEY,               -- instance.domain
    allowlist       BOOLEAN NOT NULL DEFAULT FALSE, -- it publishes a non-empty allow list
    fetched_at      TIMESTAMPTZ,                    -- the last successful read
    next_fetch_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    failures        INTEGER NOT NULL DEFAULT 0,     -- consecutive failed reads
    last_error      TEXT
);
CREATE INDEX origin_federation_due_idx ON origin_federation (next_fetch_at);

-- The instances an allow-list origin allows (normal form of sluice_trust::host).
CREATE TABLE origin_allowed (
    origin  TEXT NOT NULL REFERENCES origin_federation(origin) ON DELETE CASCADE,
    domain  TEXT NOT NULL,
    PRIMARY KEY (origin, domain)
);
