DROP INDEX IF EXISTS delivery_state_lease_idx;
DROP TRIGGER IF EXISTS outbound_target_state ON outbound_target;
DROP FUNCTION IF EXISTS sluice_outbound_target_state();
DROP TRIGGER IF EXISTS outbound_activity_take_xid ON outbound_activity;
DROP FUNCTION IF EXISTS sluice_outbound_take_xid();
DROP INDEX IF EXISTS outbound_target_outbound_idx;
