ALTER TABLE received_activity DROP COLUMN signer;
