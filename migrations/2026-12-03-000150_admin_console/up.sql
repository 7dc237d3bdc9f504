-- The admin console's sessions: a table, not process memory, because several sluice
-- processes may serve one database behind one load balancer. The cookie holds a random
-- 256-bit value; only its SHA-256 is stored, so a read of this table cannot be replayed
-- as a cookie.
CREATE TABLE admin_session (
    id_hash    BYTEA PRIMARY KEY,
    csrf       TEXT NOT NULL,
    who        TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_session_expires_idx ON admin_session (expires_at);

-- Every change made from the console (policy, mode, replay): who, when, what, why.
CREATE TABLE admin_log (
    id     BIGSERIAL PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    who    TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT
);
