DROP TRIGGER IF EXISTS policy_decision_webhook ON policy_decision;
DROP FUNCTION sluice_webhook_policy_decision();
