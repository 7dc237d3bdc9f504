-- An outbound activity id is appended once: a replayed write (a batch applied again after
-- its lease was lost, a retried transaction) cannot send the same Accept or Announce twice.
-- Appends use ON CONFLICT (activity_id) DO NOTHING. Twins appended before this index
-- existed are dropped, the first kept (its deliveries and cursor positions stand).
DELETE FROM outbound_activity a
USING outbound_activity b
WHERE a.activity_id = b.activity_id AND a.id > b.id;
DROP INDEX outbound_activity_activity_idx;
CREATE UNIQUE INDEX outbound_activity_activity_key ON outbound_activity (activity_id);

-- The journal's marks are fenced by the lease: a mark that needs the lease and finds the
-- row leased to someone else (or to no one) aborts the transaction it is part of, so a
-- batch whose lease was lost writes nothing. SQLSTATE SL001 tells sluice which error it is.
CREATE FUNCTION sluice_journal_fence(lost BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
BEGIN
    IF lost > 0 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'SL001',
            MESSAGE = format('%s journal rows are no longer leased to this process', lost);
    END IF;
    RETURN lost;
END
$$;

-- Pruning finds done and ignored rows past the retention age by this index, oldest first,
-- and stops at the cutoff: a pass with nothing to prune reads nothing.
CREATE INDEX received_activity_prunable_idx ON received_activity (received_at)
    WHERE state IN ('done', 'ignored');
