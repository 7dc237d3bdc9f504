-- Inbox refusals per instance and rc, by hour. The request path writes nothing: each
-- process counts refusals in memory (a bounded map) and adds its counts here once a
-- minute, one statement, so every process sharing the database contributes. Only
-- requests whose actor host was known (after the envelope parse) are here; `(other)`
-- holds the hosts beyond the map's bound.
CREATE TABLE inbound_refusal (
    domain TEXT NOT NULL,
    rc     TEXT NOT NULL,
    hour   TIMESTAMPTZ NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (domain, rc, hour)
);
CREATE INDEX inbound_refusal_hour_idx ON inbound_refusal (hour);

-- The console names who set a manual policy: the newest change logged on that target.
CREATE INDEX admin_log_target_idx ON admin_log (target, id DESC);
