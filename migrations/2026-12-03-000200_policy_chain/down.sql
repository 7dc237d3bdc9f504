DROP TABLE policy_decision;
DROP INDEX received_activity_held_idx;
ALTER TABLE received_activity DROP COLUMN policy_approved;
UPDATE received_activity SET state = 'pending' WHERE state = 'held';
ALTER TABLE received_activity DROP CONSTRAINT received_activity_state_check;
ALTER TABLE received_activity ADD CONSTRAINT received_activity_state_check
    CHECK (state IN ('pending', 'done', 'ignored', 'failed'));
