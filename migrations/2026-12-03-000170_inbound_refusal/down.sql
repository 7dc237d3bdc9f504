DROP INDEX admin_log_target_idx;
DROP TABLE inbound_refusal;
