-- Who signed a forwarded activity (inbox forwarding: the signer is not the actor). NULL
-- when the actor signed it itself (or for the Delete sluice builds for a 410 Gone actor).
-- The pipeline applies a forwarded activity only as fetched from its own origin.
ALTER TABLE received_activity ADD COLUMN signer TEXT;
