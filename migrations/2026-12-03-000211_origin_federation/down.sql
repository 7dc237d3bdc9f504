DROP TABLE origin_allowed;
DROP TABLE origin_federation;
