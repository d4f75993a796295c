-- The shared queue (issue 15): every node accepts into it and delivers from it. Its rows are
-- read and written only by the spool crate (crates/spool/src/shared.rs); the schema is applied
-- here because the directory applies the whole shared database's schema.
--
-- One row per accepted message: the envelope and bytes as the session received them, the
-- delivery state (per recipient, the same JSON as the single node's delivery/ files), when it
-- is next worth looking at, and the claim of the node delivering it now. A claim is a lease:
-- `lease_until` on the database's clock, renewed while the delivery runs, so a dead node's
-- claims lapse and another node takes them. `lease_token` is new on every claim, so only the
-- claim that set it can renew, record or release it.
CREATE TABLE queue_messages (
    id              TEXT    PRIMARY KEY,
    envelope        TEXT    NOT NULL,
    message         BYTEA   NOT NULL,
    size            BIGINT  NOT NULL,
    queued_at       BIGINT  NOT NULL,
    state           TEXT,
    next_due_ms     BIGINT  NOT NULL,
    held            BOOLEAN NOT NULL DEFAULT FALSE,
    retry_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner     TEXT,
    lease_token     BIGINT,
    lease_until     TIMESTAMPTZ,
    claims          INTEGER NOT NULL DEFAULT 0
);
-- The claim's search: due, not held, oldest due first.
CREATE INDEX queue_messages_due ON queue_messages (next_due_ms) WHERE NOT held;
