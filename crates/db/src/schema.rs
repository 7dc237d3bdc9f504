//! Diesel's view of the tables in `migrations/` (kept by hand; docs/schema.md explains them).

diesel::table! {
    instance (id) {
        id -> BigInt,
        domain -> Text,
        software -> Nullable<Text>,
        version -> Nullable<Text>,
        shared_inbox -> Nullable<Text>,
        first_seen -> Timestamptz,
        last_seen -> Nullable<Timestamptz>,
        policy -> Text,
        policy_reason -> Nullable<Text>,
        policy_updated -> Nullable<Timestamptz>,
        policy_source -> Text,
        policy_source_detail -> Nullable<Text>,
    }
}

diesel::table! {
    policy_generation (singleton) {
        singleton -> Bool,
        generation -> BigInt,
        mode -> Text,
    }
}

diesel::table! {
    person (id) {
        id -> BigInt,
        ap_id -> Text,
        instance_id -> BigInt,
        local -> Bool,
        name -> Text,
        display_name -> Nullable<Text>,
        summary -> Nullable<Text>,
        avatar -> Nullable<Text>,
        banner -> Nullable<Text>,
        inbox -> Text,
        shared_inbox -> Nullable<Text>,
        public_key_pem -> Nullable<Text>,
        bot -> Bool,
        banned -> Bool,
        deleted -> Bool,
        published -> Nullable<Timestamptz>,
        updated -> Nullable<Timestamptz>,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    community (id) {
        id -> BigInt,
        ap_id -> Text,
        instance_id -> BigInt,
        local -> Bool,
        name -> Text,
        title -> Text,
        summary -> Nullable<Text>,
        icon -> Nullable<Text>,
        banner -> Nullable<Text>,
        inbox -> Text,
        shared_inbox -> Nullable<Text>,
        followers_url -> Nullable<Text>,
        moderators_url -> Nullable<Text>,
        featured_url -> Nullable<Text>,
        public_key_pem -> Nullable<Text>,
        nsfw -> Bool,
        posting_restricted_to_mods -> Bool,
        deleted -> Bool,
        removed -> Bool,
        published -> Nullable<Timestamptz>,
        updated -> Nullable<Timestamptz>,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    local_key (actor_ap_id) {
        actor_ap_id -> Text,
        key_id -> Text,
        public_key_pem -> Text,
        private_key_pem -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    remote_key (key_id) {
        key_id -> Text,
        owner_ap_id -> Text,
        public_key_pem -> Text,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    post (id) {
        id -> BigInt,
        ap_id -> Text,
        community_id -> BigInt,
        creator_id -> BigInt,
        local -> Bool,
        name -> Text,
        url -> Nullable<Text>,
        body -> Nullable<Text>,
        source -> Nullable<Text>,
        language -> Nullable<Text>,
        nsfw -> Bool,
        locked -> Bool,
        featured -> Bool,
        deleted -> Bool,
        removed -> Bool,
        score -> BigInt,
        upvotes -> BigInt,
        downvotes -> BigInt,
        published -> Timestamptz,
        updated -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    comment (id) {
        id -> BigInt,
        ap_id -> Text,
        post_id -> BigInt,
        parent_id -> Nullable<BigInt>,
        creator_id -> BigInt,
        local -> Bool,
        content -> Text,
        source -> Nullable<Text>,
        language -> Nullable<Text>,
        distinguished -> Bool,
        locked -> Bool,
        deleted -> Bool,
        removed -> Bool,
        score -> BigInt,
        upvotes -> BigInt,
        downvotes -> BigInt,
        published -> Timestamptz,
        updated -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    vote (id) {
        id -> BigInt,
        person_id -> BigInt,
        post_id -> Nullable<BigInt>,
        comment_id -> Nullable<BigInt>,
        score -> SmallInt,
        activity_id -> Nullable<Text>,
        published -> Timestamptz,
    }
}

diesel::table! {
    community_follow (id) {
        id -> BigInt,
        community_id -> BigInt,
        person_id -> BigInt,
        state -> Text,
        activity_id -> Nullable<Text>,
        published -> Timestamptz,
    }
}

diesel::table! {
    community_moderator (community_id, person_id) {
        community_id -> BigInt,
        person_id -> BigInt,
        published -> Timestamptz,
    }
}

diesel::table! {
    ban (id) {
        id -> BigInt,
        person_id -> BigInt,
        community_id -> Nullable<BigInt>,
        moderator_id -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        expires -> Nullable<Timestamptz>,
        activity_id -> Nullable<Text>,
        published -> Timestamptz,
    }
}

diesel::table! {
    private_message (id) {
        id -> BigInt,
        ap_id -> Text,
        creator_id -> BigInt,
        recipient_id -> BigInt,
        content -> Text,
        source -> Nullable<Text>,
        deleted -> Bool,
        published -> Timestamptz,
        updated -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    report (id) {
        id -> BigInt,
        ap_id -> Text,
        creator_id -> BigInt,
        community_id -> Nullable<BigInt>,
        post_id -> Nullable<BigInt>,
        comment_id -> Nullable<BigInt>,
        object_ap_id -> Text,
        reason -> Nullable<Text>,
        resolved -> Bool,
        published -> Timestamptz,
    }
}

diesel::table! {
    mod_action (id) {
        id -> BigInt,
        activity_id -> Text,
        kind -> Text,
        moderator_id -> Nullable<BigInt>,
        community_id -> Nullable<BigInt>,
        target_ap_id -> Text,
        reason -> Nullable<Text>,
        published -> Timestamptz,
    }
}

diesel::table! {
    received_activity (id) {
        id -> BigInt,
        activity_id -> Text,
        actor -> Text,
        kind -> Text,
        raw -> Text,
        received_at -> Timestamptz,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamptz,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        error_code -> Nullable<Text>,
        error -> Nullable<Text>,
        processed_at -> Nullable<Timestamptz>,
        signer -> Nullable<Text>,
        policy_approved -> Array<Text>,
    }
}

diesel::table! {
    node (id) {
        id -> Text,
        hostname -> Text,
        pid -> Integer,
        started_at -> Timestamptz,
        heartbeat_at -> Timestamptz,
    }
}

diesel::table! {
    outbound_activity (id) {
        id -> BigInt,
        activity_id -> Text,
        actor_ap_id -> Text,
        raw -> Jsonb,
        object_ap_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    outbound_target (instance_id, outbound_id) {
        outbound_id -> BigInt,
        instance_id -> BigInt,
        inboxes -> Array<Text>,
    }
}

diesel::table! {
    delivery_state (instance_id) {
        instance_id -> BigInt,
        last_delivered_id -> BigInt,
        fail_count -> Integer,
        next_retry_at -> Nullable<Timestamptz>,
        first_failure_at -> Nullable<Timestamptz>,
        last_success_at -> Nullable<Timestamptz>,
        last_failure_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        state -> Text,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    delivery_failure (id) {
        id -> BigInt,
        outbound_id -> BigInt,
        instance_id -> BigInt,
        inbox -> Text,
        status -> Nullable<Integer>,
        error_code -> Text,
        error -> Nullable<Text>,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    doctor_probe (id) {
        id -> SmallInt,
        probed_at -> Timestamptz,
    }
}

diesel::joinable!(person -> instance (instance_id));
diesel::joinable!(community -> instance (instance_id));
diesel::joinable!(post -> community (community_id));
diesel::joinable!(post -> person (creator_id));
diesel::joinable!(comment -> post (post_id));
diesel::joinable!(outbound_target -> outbound_activity (outbound_id));
diesel::joinable!(delivery_state -> instance (instance_id));

diesel::allow_tables_to_appear_in_same_query!(
    instance,
    person,
    community,
    post,
    comment,
    vote,
    community_follow,
    community_moderator,
    ban,
    private_message,
    report,
    mod_action,
    received_activity,
    outbound_activity,
    outbound_target,
    delivery_state,
    delivery_failure,
    local_key,
    remote_key,
);

// Pipeline memory (migration 2026-11-27-000010_pipeline).
diesel::table! {
    ingest_memory (key) {
        key -> Text,
        journal_id -> BigInt,
        activity_id -> Text,
        created_at -> Timestamptz,
    }
}
