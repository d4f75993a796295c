-- Senders imported from a Microsoft 365 tenant's SMTP AUTH clients report (`authrelay import
-- m365`), kept for the cutover checklist (`authrelay import status`) and so a second import of the
-- same files changes nothing. One row per sender address; the TLS shares are percentages as the
-- report gave them, NULL when the report had no such column.
CREATE TABLE m365_imports (
    address       TEXT    NOT NULL PRIMARY KEY,
    org           TEXT    NOT NULL,
    credential    TEXT    NOT NULL,
    messages      INTEGER NOT NULL,
    tls10         REAL,
    tls11         REAL,
    tls12         REAL,
    protocol      TEXT    NOT NULL,
    legacy_tls    INTEGER NOT NULL,
    imported_at   INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) WITHOUT ROWID;
