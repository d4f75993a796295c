-- authrelay directory on PostgreSQL: the same tables as the SQLite schema (migrations/), in
-- PostgreSQL's types. Timestamps are unix seconds (BIGINT), settings their lower-case spellings.
-- Names that SQLite compares with COLLATE NOCASE use the `nocase` collation below (ICU,
-- case-insensitive, so UNIQUE and `=` ignore case as they do there).

CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE TABLE orgs (
    id                 BIGSERIAL PRIMARY KEY,
    name               TEXT   NOT NULL UNIQUE COLLATE nocase,
    security_defaults  TEXT   NOT NULL,
    smtp_auth          TEXT   NOT NULL,
    app_passwords      TEXT   NOT NULL,
    device_credentials TEXT   NOT NULL DEFAULT 'allowed',
    created_at         BIGINT NOT NULL,
    max_message_size   BIGINT,
    max_recipients     BIGINT,
    daily_recipients   BIGINT,
    max_sessions       BIGINT
);

-- `seq` keeps the order in which domains were added (SQLite's rowid order).
CREATE TABLE domains (
    domain   TEXT      PRIMARY KEY,
    org_id   BIGINT    NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    added_at BIGINT    NOT NULL,
    seq      BIGSERIAL NOT NULL
);
CREATE INDEX domains_org ON domains(org_id);

CREATE TABLE users (
    id                  BIGSERIAL PRIMARY KEY,
    org_id              BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    address             TEXT   NOT NULL UNIQUE,
    display_name        TEXT   NOT NULL,
    password_hash       TEXT   NOT NULL,
    sign_in             TEXT   NOT NULL,
    smtp_auth           TEXT   NOT NULL,
    mfa                 TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE send_as (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address TEXT   NOT NULL,
    PRIMARY KEY (user_id, address)
);

CREATE TABLE app_passwords (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    hint         TEXT   NOT NULL,
    hash         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX app_passwords_live_name ON app_passwords(user_id, name) WHERE revoked_at IS NULL;

CREATE TABLE device_credentials (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    tag          TEXT   NOT NULL UNIQUE,
    hash         TEXT   NOT NULL,
    allow        TEXT   NOT NULL DEFAULT '',
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    last_used_ip TEXT,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX device_credentials_live_name ON device_credentials(user_id, name) WHERE revoked_at IS NULL;

-- `user_name` is what the client gave ("user" is reserved in PostgreSQL).
CREATE TABLE signins (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT  NOT NULL,
    client_ip   TEXT    NOT NULL,
    client_port INTEGER NOT NULL,
    tls         TEXT    NOT NULL,
    mechanism   TEXT    NOT NULL,
    user_name   TEXT    NOT NULL COLLATE nocase,
    credential  TEXT,
    check_name  TEXT    NOT NULL,
    reply       TEXT    NOT NULL,
    success     BOOLEAN NOT NULL
);
CREATE INDEX signins_user_at ON signins(user_name, at);
CREATE INDEX signins_at ON signins(at);

CREATE TABLE lockout (
    name             TEXT   NOT NULL,
    location         TEXT   NOT NULL,
    failures         BIGINT NOT NULL,
    first_failure_at BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL DEFAULT 0,
    lockouts         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, location)
);

CREATE TABLE familiar_locations (
    name            TEXT   NOT NULL,
    client_ip       TEXT   NOT NULL,
    last_success_at BIGINT NOT NULL,
    PRIMARY KEY (name, client_ip)
);

-- One row per mailbox and minute with traffic; unique so nodes add to it concurrently.
CREATE TABLE recipient_usage (
    address    TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    recipients BIGINT NOT NULL,
    PRIMARY KEY (address, at)
);

CREATE TABLE admins (
    id             BIGSERIAL PRIMARY KEY,
    address        TEXT   NOT NULL UNIQUE COLLATE nocase,
    role           TEXT   NOT NULL,
    password_hash  TEXT   NOT NULL,
    totp_secret    TEXT,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash   TEXT    PRIMARY KEY,
    admin_id     BIGINT  NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    csrf         TEXT    NOT NULL,
    mfa_done     BOOLEAN NOT NULL,
    pending_totp TEXT,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions(expires_at);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    admin_id     BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    role         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE audit_log (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    target TEXT   NOT NULL,
    before TEXT   NOT NULL,
    after  TEXT   NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE submissions (
    user_name  TEXT   NOT NULL,
    day        BIGINT NOT NULL,
    tls        TEXT   NOT NULL,
    credential TEXT   NOT NULL,
    messages   BIGINT NOT NULL DEFAULT 0,
    last_at    BIGINT NOT NULL,
    PRIMARY KEY (user_name, day, tls, credential)
);
CREATE INDEX submissions_day ON submissions(day);

CREATE TABLE m365_imports (
    address     TEXT    NOT NULL PRIMARY KEY,
    org         TEXT    NOT NULL,
    credential  TEXT    NOT NULL,
    messages    BIGINT  NOT NULL,
    tls10       DOUBLE PRECISION,
    tls11       DOUBLE PRECISION,
    tls12       DOUBLE PRECISION,
    protocol    TEXT    NOT NULL,
    legacy_tls  BOOLEAN NOT NULL,
    imported_at BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- Authenticated sessions per mailbox across every node: one lease per open session, renewed
-- by its node while it lasts; a dead node's leases lapse at `expires_at`.
CREATE TABLE mailbox_sessions (
    id         BIGSERIAL PRIMARY KEY,
    address    TEXT   NOT NULL,
    node       TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mailbox_sessions_address ON mailbox_sessions(address, expires_at);
