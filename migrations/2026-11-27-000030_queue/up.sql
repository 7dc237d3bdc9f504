-- The send queue (issue 5).

-- Routing new work to per-instance workers reads the targets of a range of outbound ids
-- (the foreign key's ON DELETE CASCADE needs it too when old log rows are pruned).
CREATE INDEX outbound_target_outbound_idx ON outbound_target (outbound_id);

-- Outbound ids come from a sequence, so a transaction can commit id N+1 before another
-- commits id N. The queue only delivers up to a "horizon" below which every id is settled
-- (committed or rolled back). It proves a missing id settled by waiting for the
-- transactions that were in progress when the gap was seen; that proof needs every
-- appender to hold a transaction id BEFORE it draws an outbound id. This statement
-- trigger makes sure it does (a no-op when the transaction already wrote something).
CREATE FUNCTION sluice_outbound_take_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN NULL;
END $$;
CREATE TRIGGER outbound_activity_take_xid
    BEFORE INSERT ON outbound_activity
    FOR EACH STATEMENT EXECUTE FUNCTION sluice_outbound_take_xid();

-- Every instance that is sent something has a delivery_state row (its cursor and lease),
-- created in the appending transaction, whoever the appender is.
CREATE FUNCTION sluice_outbound_target_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_state (instance_id)
    SELECT DISTINCT instance_id FROM new_targets
    ON CONFLICT (instance_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER outbound_target_state
    AFTER INSERT ON outbound_target
    REFERENCING NEW TABLE AS new_targets
    FOR EACH STATEMENT EXECUTE FUNCTION sluice_outbound_target_state();

-- Leases are renewed and claimed by owner.
CREATE INDEX delivery_state_lease_idx ON delivery_state (lease_owner);
