-- authrelay directory, first schema.
-- Settings are stored as their lower-case spellings (authrelay_core::settings as_str/FromStr).
-- Timestamps are unix seconds.

CREATE TABLE orgs (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    security_defaults TEXT    NOT NULL,
    smtp_auth         TEXT    NOT NULL,
    app_passwords     TEXT    NOT NULL,
    created_at        INTEGER NOT NULL
);

-- Accepted domains, lower-case; a domain belongs to at most one organisation.
CREATE TABLE domains (
    domain   TEXT    PRIMARY KEY,
    org_id   INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL
);
CREATE INDEX domains_org ON domains(org_id);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    org_id              INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    address             TEXT    NOT NULL UNIQUE,
    display_name        TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL,
    sign_in             TEXT    NOT NULL,
    smtp_auth           TEXT    NOT NULL,
    mfa                 TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);
CREATE INDEX users_org ON users(org_id);

-- Extra addresses a mailbox may send as (its own address is always allowed and not listed).
CREATE TABLE send_as (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address TEXT    NOT NULL,
    PRIMARY KEY (user_id, address)
);

-- Revoked app passwords stay for the record (revoked_at set) but are never used again.
CREATE TABLE app_passwords (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    hint         TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
-- A name is unique among a user's live app passwords; a revoked name may be reused.
CREATE UNIQUE INDEX app_passwords_live_name ON app_passwords(user_id, name) WHERE revoked_at IS NULL;

-- Every AUTH attempt. `user` is what the client gave, compared case-insensitively.
CREATE TABLE signins (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    client_ip   TEXT    NOT NULL,
    client_port INTEGER NOT NULL,
    tls         TEXT    NOT NULL,
    mechanism   TEXT    NOT NULL,
    user        TEXT    NOT NULL COLLATE NOCASE,
    credential  TEXT,
    check_name  TEXT    NOT NULL,
    reply       TEXT    NOT NULL,
    success     INTEGER NOT NULL
);
CREATE INDEX signins_user_at ON signins(user, at);
CREATE INDEX signins_at ON signins(at);
