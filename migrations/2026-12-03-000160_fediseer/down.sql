DROP TABLE fediseer_sync;
UPDATE instance SET policy = 'none', policy_reason = NULL WHERE policy_source = 'fediseer';
ALTER TABLE instance DROP COLUMN policy_source_detail, DROP COLUMN policy_source;
