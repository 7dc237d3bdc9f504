DROP TABLE IF EXISTS delivery_failure, delivery_state, outbound_target, outbound_activity, node,
    received_activity, mod_action, report, private_message, ban, community_moderator,
    community_follow, vote, comment, post, remote_key, local_key, community, person,
    policy_generation, instance CASCADE;
