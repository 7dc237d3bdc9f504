-- The ingestion pipeline (docs/schema.md, "Pipeline memory").

-- What the pipeline must remember about activities that arrived before (or without) what
-- they act on: an Undo of a vote, follow or ban that is not known yet, and the Delete of an
-- object that is not known yet. A later activity with a smaller journal id for the same key
-- is superseded (the Undo was sent after it); a Create of a remembered deleted object is
-- refused. Keys are `<kind> <ap_id> [<ap_id>]`; rows older than 30 days are dropped.
CREATE TABLE ingest_memory (
    key         TEXT PRIMARY KEY,
    journal_id  BIGINT NOT NULL,       -- received_activity.id of the Undo / Delete
    activity_id TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ingest_memory_created_idx ON ingest_memory (created_at);

-- Accept/Reject from peers that name our Follow only by its id (Mastodon does).
CREATE INDEX community_follow_activity_idx ON community_follow (activity_id);
