-- The journal keeps the exact bytes received: jsonb normalises whitespace, key order and
-- duplicate keys, so what was signed (the Digest covers the body) could not be shown again.
-- Existing rows keep jsonb's rendering of what they received (the bytes are gone).
ALTER TABLE received_activity ALTER COLUMN raw TYPE text USING raw::text;
