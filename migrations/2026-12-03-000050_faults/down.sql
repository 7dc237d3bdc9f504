DROP INDEX received_activity_prunable_idx;
DROP FUNCTION sluice_journal_fence(BIGINT);
DROP INDEX outbound_activity_activity_key;
CREATE INDEX outbound_activity_activity_idx ON outbound_activity (activity_id);
