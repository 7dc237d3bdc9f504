-- The policy chain (docs/policies.md): held journal rows wait for review, approvals are
-- remembered on the row, and every verdict other than accept is recorded.

ALTER TABLE received_activity DROP CONSTRAINT received_activity_state_check;
ALTER TABLE received_activity ADD CONSTRAINT received_activity_state_check
    CHECK (state IN ('pending', 'done', 'ignored', 'failed', 'held'));
-- Policies an admin overruled for this row (`sluice review approve`): the pipeline skips
-- them when it processes the row again.
ALTER TABLE received_activity ADD COLUMN policy_approved TEXT[] NOT NULL DEFAULT '{}';
-- The review queue and its gauge read only held rows.
CREATE INDEX received_activity_held_idx ON received_activity (id) WHERE state = 'held';

-- What the chain did to an activity, written in the pipeline's batch transaction (and by
-- `sluice review`). Kept as long as its journal row.
CREATE TABLE policy_decision (
    id          BIGSERIAL PRIMARY KEY,
    journal_id  BIGINT NOT NULL REFERENCES received_activity(id) ON DELETE CASCADE,
    activity_id TEXT NOT NULL,
    policy      TEXT NOT NULL,
    action      TEXT NOT NULL
                CHECK (action IN ('reject', 'rewrite', 'no_relay', 'hold', 'approve', 'review_reject')),
    rc          TEXT,
    reason      TEXT NOT NULL,
    decided_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX policy_decision_journal_idx ON policy_decision (journal_id);
