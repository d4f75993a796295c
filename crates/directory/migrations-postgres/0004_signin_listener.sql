-- The legacy listener (`[[listeners]]`: old TLS, no TLS, bare LFs) a sign-in came through, by
-- name ("plain 192.168.50.1:2525"); '' on the default listeners (README "Legacy devices").
ALTER TABLE signins ADD COLUMN listener TEXT NOT NULL DEFAULT '';
