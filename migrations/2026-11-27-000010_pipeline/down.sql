DROP INDEX community_follow_activity_idx;
DROP TABLE ingest_memory;
