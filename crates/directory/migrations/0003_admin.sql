-- authrelay directory: the admin center's accounts, sessions, API tokens and audit log.
-- Secrets are never stored in clear: passwords as argon2id PHC strings, session ids and API
-- tokens as SHA-256 hex of the random value (they carry 256 bits, so a fast hash is enough).

CREATE TABLE admins (
    id             INTEGER PRIMARY KEY,
    address        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role           TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    -- Base32 TOTP secret (RFC 6238) once enrolled; NULL until the admin enrols.
    totp_secret    TEXT,
    -- Last accepted TOTP time step, so a code cannot be used twice.
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash   TEXT    PRIMARY KEY,
    admin_id     INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    csrf         TEXT    NOT NULL,
    -- 0 until the second factor was given (or was not needed).
    mfa_done     INTEGER NOT NULL,
    -- A TOTP secret being enrolled in this session, not yet confirmed.
    pending_totp TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions(expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    admin_id     INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

-- Every change made through the admin center: who, what, before and after, when.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    before TEXT    NOT NULL,
    after  TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
