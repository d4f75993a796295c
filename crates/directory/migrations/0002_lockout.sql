-- Protection under attack and load: smart lockout, the rolling recipient quota and
-- per-organisation limits. Timestamps are unix seconds.

-- Smart lockout counters. `name` is the user name as the client gave it, trimmed and lower-case,
-- whether or not such a user exists (so lockout timing does not reveal which users exist).
-- `location` is '' for every unfamiliar client address together, or one familiar client IP,
-- which keeps its own count: an attacker elsewhere cannot lock the user out from there.
CREATE TABLE lockout (
    name             TEXT    NOT NULL,
    location         TEXT    NOT NULL,
    failures         INTEGER NOT NULL,
    first_failure_at INTEGER NOT NULL,
    locked_until     INTEGER NOT NULL DEFAULT 0,
    -- Lockouts in a row without a success in between; each one doubles the duration.
    lockouts         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, location)
);

-- Client addresses from which a user name recently authenticated successfully.
CREATE TABLE familiar_locations (
    name            TEXT    NOT NULL,
    client_ip       TEXT    NOT NULL,
    last_success_at INTEGER NOT NULL,
    PRIMARY KEY (name, client_ip)
);

-- Recipients of accepted messages, for the rolling 24-hour quota; rows older than a day are
-- pruned as new ones are written.
CREATE TABLE recipient_usage (
    address    TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    recipients INTEGER NOT NULL
);
CREATE INDEX recipient_usage_address_at ON recipient_usage(address, at);

-- Per-organisation overrides of server-wide limits; NULL = the server's configured value.
ALTER TABLE orgs ADD COLUMN max_message_size INTEGER;
ALTER TABLE orgs ADD COLUMN max_recipients INTEGER;
ALTER TABLE orgs ADD COLUMN daily_recipients INTEGER;
ALTER TABLE orgs ADD COLUMN max_sessions INTEGER;
