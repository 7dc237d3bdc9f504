-- Where an instance's policy came from: set by an admin (`manual`, every row before this
-- migration) or by the Fediseer sync (`fediseer`). The sync only writes rows that are
-- `fediseer` or carry no policy, so a manual entry is never changed by it.
-- `policy_source_detail` says which feelers or sources gave the endorsement or censure.
ALTER TABLE instance
    ADD COLUMN policy_source TEXT NOT NULL DEFAULT 'manual'
        CHECK (policy_source IN ('manual', 'fediseer')),
    ADD COLUMN policy_source_detail TEXT;

-- The Fediseer sync's state, one row: who may sync next (`started`, a lease so that
-- processes sharing the database do not all fetch each interval) and how the last syncs
-- went (read by `sluice doctor`).
CREATE TABLE fediseer_sync (
    singleton     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    started       TIMESTAMPTZ,
    last_success  TIMESTAMPTZ,
    last_failure  TIMESTAMPTZ,
    last_error    TEXT,
    allows        INTEGER NOT NULL DEFAULT 0,
    blocks        INTEGER NOT NULL DEFAULT 0
);
INSERT INTO fediseer_sync DEFAULT VALUES;
