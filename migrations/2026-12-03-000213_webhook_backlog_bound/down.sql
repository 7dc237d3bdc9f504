CREATE OR REPLACE FUNCTION sluice_webhook_emit(kind TEXT, payload JSONB) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    event BIGINT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook w WHERE w.enabled AND kind = ANY (w.events)) THEN
        RETURN;
    END IF;
    INSERT INTO webhook_event (kind, payload) VALUES (kind, payload) RETURNING id INTO event;
    INSERT INTO webhook_delivery (webhook, event_id)
    SELECT w.name, event FROM webhook w WHERE w.enabled AND kind = ANY (w.events);
END $$;
ALTER TABLE webhook DROP COLUMN dropped;
