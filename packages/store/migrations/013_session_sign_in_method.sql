-- How each session of the recipient's site began: by a mailed link (which proves the mailbox is the
-- user's) or by a password. A fresh link session may remove a password without knowing it, and only
-- a fresh link session may set a first one (docs/recipient-site.md). Sessions from before this
-- migration count as password sessions: nothing they did proved the mailbox.
ALTER TABLE web_sessions ADD COLUMN signed_in_by text NOT NULL DEFAULT 'password'
  CHECK (signed_in_by IN ('link', 'password'));
