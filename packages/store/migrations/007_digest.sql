-- When each user was last sent a digest of held mail; the next one covers what arrived since.
ALTER TABLE users ADD COLUMN last_digest_at timestamptz;
