-- Device credentials (issue 7): generated per-mailbox secrets for printers and apps that can
-- only send a user name and password. Timestamps are unix seconds.

-- Whether an organisation's mailboxes may use device credentials ('allowed' or 'blocked').
ALTER TABLE orgs ADD COLUMN device_credentials TEXT NOT NULL DEFAULT 'allowed';

-- `tag` is the non-secret middle part of the secret (adc_<tag>_<secret>), unique, so one AUTH
-- attempt verifies exactly one argon2id hash. `allow` is the client-address allow list, CIDRs
-- separated by spaces ('' = any address). Revoked credentials stay for the record.
CREATE TABLE device_credentials (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    tag          TEXT    NOT NULL UNIQUE,
    hash         TEXT    NOT NULL,
    allow        TEXT    NOT NULL DEFAULT '',
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    last_used_ip TEXT,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX device_credentials_live_name ON device_credentials(user_id, name) WHERE revoked_at IS NULL;
