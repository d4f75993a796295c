-- The language of an organisation's bounce messages (issue 19): 'en', 'ko' or 'id'; NULL means
-- the server's default, English (the same column as SQLite's 0007_org_language.sql).
ALTER TABLE orgs ADD COLUMN language TEXT;
