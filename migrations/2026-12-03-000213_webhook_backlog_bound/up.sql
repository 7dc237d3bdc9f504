-- A webhook's backlog is bounded: events are caused by peers (a flood of rejected or
-- failed activities is one event each), and a receiver that is down must not make the
-- database grow without end. Once a webhook's oldest pending delivery is 10,000 events
-- behind the newest, its new events are dropped and counted (`sluice webhook status` shows
-- the count) until it catches up.
ALTER TABLE webhook ADD COLUMN dropped BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION sluice_webhook_emit(kind TEXT, payload JSONB) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    event BIGINT;
    room TEXT[];
BEGIN
    -- The backlog is measured as the span from the webhook's oldest pending event to the
    -- newest event: one probe of the pending index, and never less than the count.
    SELECT coalesce(array_agg(w.name), '{}') INTO room FROM webhook w
    WHERE w.enabled AND kind = ANY (w.events)
      AND coalesce((SELECT s.last_value FROM webhook_event_id_seq s)
                   - (SELECT min(d.event_id) FROM webhook_delivery d
                      WHERE d.webhook = w.name AND d.state = 'pending') + 1, 0) < 10000;
    UPDATE webhook w SET dropped = w.dropped + 1
    WHERE w.enabled AND kind = ANY (w.events) AND NOT (w.name = ANY (room));
    IF cardinality(room) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO webhook_event (kind, payload) VALUES (kind, payload) RETURNING id INTO event;
    INSERT INTO webhook_delivery (webhook, event_id) SELECT unnest(room), event;
END $$;
