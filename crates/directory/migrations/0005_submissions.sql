-- Accepted submissions for the SMTP AUTH clients report ("messages sent"). One row per mailbox,
-- UTC day, TLS version and credential kind, so a busy printer adds one row a day, not one per
-- message. `day` is unix seconds / 86400; `last_at` is unix seconds of the latest message.
CREATE TABLE submissions (
    user       TEXT    NOT NULL,
    day        INTEGER NOT NULL,
    tls        TEXT    NOT NULL,
    credential TEXT    NOT NULL,
    messages   INTEGER NOT NULL DEFAULT 0,
    last_at    INTEGER NOT NULL,
    PRIMARY KEY (user, day, tls, credential)
) WITHOUT ROWID;
CREATE INDEX submissions_day ON submissions(day);
