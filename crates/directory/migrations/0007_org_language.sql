-- The language of an organisation's bounce messages (issue 19): 'en', 'ko' or 'id'; NULL means
-- the server's default, English. The human-readable part of a bounce to one of its senders is
-- written in it, with English alongside.
ALTER TABLE orgs ADD COLUMN language TEXT;
