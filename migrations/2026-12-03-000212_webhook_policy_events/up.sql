-- activity.rejected and activity.held (docs/webhooks.md): from the policy chain's
-- `policy_decision` rows (migration 2026-12-03-000200_policy_chain), written in the
-- pipeline's batch transaction. `review_reject` (an admin refusing a held activity) and
-- the other actions are not these events. Refusals the inbox makes before journaling
-- write no row (the request path stays at one round-trip) and make no event.
CREATE FUNCTION sluice_webhook_policy_decision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor TEXT;
    kind TEXT;
BEGIN
    SELECT r.actor, r.kind INTO actor, kind FROM received_activity r WHERE r.id = NEW.journal_id;
    PERFORM sluice_webhook_emit(
        CASE NEW.action WHEN 'reject' THEN 'activity.rejected' ELSE 'activity.held' END,
        jsonb_build_object(
            'journal_id', NEW.journal_id,
            'activity_id', NEW.activity_id,
            'actor', actor,
            'type', kind,
            'policy', NEW.policy,
            'rc', NEW.rc,
            'reason', left(NEW.reason, 500)));
    RETURN NULL;
END $$;

-- The trigger needs the policy chain's table; on a database without it (this migration
-- applied before the chain's), it is created by nothing and the function is unused.
DO $$
BEGIN
    IF to_regclass('policy_decision') IS NOT NULL THEN
        CREATE TRIGGER policy_decision_webhook AFTER INSERT ON policy_decision
            FOR EACH ROW WHEN (NEW.action IN ('reject', 'hold'))
            EXECUTE FUNCTION sluice_webhook_policy_decision();
    END IF;
END $$;
