-- Webhooks (docs/webhooks.md): events are appended by triggers, in the transaction of the
-- change they describe, and fanned out to one delivery row per subscribed webhook; the
-- sender (crates/webhooks) posts each webhook's deliveries in event order.

-- The configured webhooks (`[[webhook]]`), written by `serve` at start: the triggers read
-- who wants which event; the sender leases a webhook so one process sends its deliveries.
-- URLs and secrets stay in the configuration file, never in the database.
CREATE TABLE webhook (
    name            TEXT PRIMARY KEY,
    events          TEXT[] NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,   -- false: no longer configured
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_failure_at TIMESTAMPTZ,
    last_error      TEXT
);

-- One row per event (its id is the payload's `id`, the same for every webhook).
CREATE TABLE webhook_event (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    payload     JSONB NOT NULL,                    -- the event's fields
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now() -- when the change was made
);
CREATE INDEX webhook_event_created_idx ON webhook_event (created_at);

-- One row per (webhook, event): pending until delivered, or failed after its attempts.
CREATE TABLE webhook_delivery (
    webhook         TEXT NOT NULL,
    event_id        BIGINT NOT NULL REFERENCES webhook_event(id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_status     INTEGER,                       -- the receiver's last HTTP status
    last_error      TEXT,
    finished_at     TIMESTAMPTZ,
    PRIMARY KEY (webhook, event_id)
);
CREATE INDEX webhook_delivery_event_idx ON webhook_delivery (event_id);
CREATE INDEX webhook_delivery_pending_idx ON webhook_delivery (webhook, event_id)
    WHERE state = 'pending';

-- Appends an event for every enabled webhook that subscribes to `kind`; nothing at all
-- when none does. Every producer calls this (the triggers below; any later one too).
CREATE FUNCTION sluice_webhook_emit(kind TEXT, payload JSONB) RETURNS VOID
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

-- report.received: a report (Flag) stored, whoever stored it.
CREATE FUNCTION sluice_webhook_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sluice_webhook_emit('report.received', jsonb_build_object(
        'report', NEW.ap_id,
        'reporter', (SELECT ap_id FROM person WHERE id = NEW.creator_id),
        'object', NEW.object_ap_id,
        'community', (SELECT ap_id FROM community WHERE id = NEW.community_id),
        'reason', left(NEW.reason, 2000)));
    RETURN NULL;
END $$;
CREATE TRIGGER report_webhook AFTER INSERT ON report
    FOR EACH ROW EXECUTE FUNCTION sluice_webhook_report();

-- instance.dead / instance.revived: a delivery state changing between active and dead.
CREATE FUNCTION sluice_webhook_instance_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sluice_webhook_emit(
        CASE NEW.state WHEN 'dead' THEN 'instance.dead' ELSE 'instance.revived' END,
        jsonb_build_object(
            'instance', (SELECT domain FROM instance WHERE id = NEW.instance_id),
            'failing_since', OLD.first_failure_at,
            'last_success', NEW.last_success_at,
            'last_error', left(COALESCE(NEW.last_error, OLD.last_error), 500)));
    RETURN NULL;
END $$;
CREATE TRIGGER delivery_state_webhook AFTER UPDATE OF state ON delivery_state
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION sluice_webhook_instance_state();

-- journal.failed: a journal row the pipeline gave up on. An UPDATE trigger only: the
-- inbox's insert never runs it.
CREATE FUNCTION sluice_webhook_journal_failed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sluice_webhook_emit('journal.failed', jsonb_build_object(
        'journal_id', NEW.id,
        'activity_id', NEW.activity_id,
        'actor', NEW.actor,
        'type', NEW.kind,
        'rc', NEW.error_code,
        'error', left(NEW.error, 500),
        'attempts', NEW.attempts));
    RETURN NULL;
END $$;
CREATE TRIGGER received_activity_failed_webhook AFTER UPDATE OF state ON received_activity
    FOR EACH ROW WHEN (NEW.state = 'failed' AND OLD.state IS DISTINCT FROM 'failed')
    EXECUTE FUNCTION sluice_webhook_journal_failed();

-- policy.synced: a Fediseer sync that changed entries. It fires on the sync's success
-- record, written last in the sync's transaction; the rows that sync set or withdrew are
-- the ones it stamped with this transaction's time (now() is constant in a transaction).
-- At most 1,000 domains of each list are named; the counts are whole.
CREATE FUNCTION sluice_webhook_policy_synced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed JSONB;
    withdrawn JSONB;
    n_changed BIGINT;
    n_withdrawn BIGINT;
BEGIN
    SELECT count(*) INTO n_changed FROM instance
    WHERE policy_updated = now() AND policy_source = 'fediseer';
    SELECT count(*) INTO n_withdrawn FROM instance
    WHERE policy_updated = now() AND policy_source = 'manual' AND policy = 'none';
    IF n_changed = 0 AND n_withdrawn = 0 THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(jsonb_agg(jsonb_build_object('domain', domain, 'policy', policy,
               'reason', policy_reason, 'source', policy_source_detail) ORDER BY domain), '[]')
    INTO changed
    FROM (SELECT * FROM instance WHERE policy_updated = now() AND policy_source = 'fediseer'
          ORDER BY domain LIMIT 1000) c;
    SELECT COALESCE(jsonb_agg(domain ORDER BY domain), '[]') INTO withdrawn
    FROM (SELECT domain FROM instance
          WHERE policy_updated = now() AND policy_source = 'manual' AND policy = 'none'
          ORDER BY domain LIMIT 1000) w;
    PERFORM sluice_webhook_emit('policy.synced', jsonb_build_object(
        'source', 'fediseer',
        'changed', changed, 'changed_count', n_changed,
        'withdrawn', withdrawn, 'withdrawn_count', n_withdrawn,
        'allows', NEW.allows, 'blocks', NEW.blocks));
    RETURN NULL;
END $$;
CREATE TRIGGER fediseer_sync_webhook AFTER UPDATE OF last_success ON fediseer_sync
    FOR EACH ROW WHEN (NEW.last_success IS DISTINCT FROM OLD.last_success)
    EXECUTE FUNCTION sluice_webhook_policy_synced();
