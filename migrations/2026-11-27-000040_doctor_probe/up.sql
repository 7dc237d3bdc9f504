-- `sluice doctor` times a durable commit (the WAL flush every acknowledgement waits for) by
-- rewriting this single row in a transaction. A temporary table would not do: PostgreSQL
-- does not wait for the WAL flush when a transaction wrote only to temporary tables.
CREATE TABLE doctor_probe (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    probed_at  TIMESTAMPTZ NOT NULL
);
