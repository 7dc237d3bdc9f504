ALTER TABLE received_activity ALTER COLUMN raw TYPE jsonb USING raw::jsonb;
