-- The recipient's site: sign-in without a password (single-use links), optional passwords, sessions,
-- sign-in rate limits, the digest setting, and what the quarantine list sorts and pages by.

-- Optional password (scrypt, see store/src/passwords.ts); NULL: sign-in by mailed link only.
ALTER TABLE users ADD COLUMN password_hash text;
-- How often the user wants a digest of held mail. Nothing sends digests yet.
ALTER TABLE users ADD COLUMN digest_frequency text NOT NULL DEFAULT 'daily'
  CHECK (digest_frequency IN ('daily', 'weekly', 'off'));

-- Single-use sign-in links. Only the SHA-256 of the token is stored: a database reader cannot sign in.
CREATE TABLE sign_in_links (
  token_hash text PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
CREATE INDEX sign_in_links_expiry ON sign_in_links(expires_at);

-- Signed-in sessions. The cookie carries the session id (HMAC-signed); the table keeps its SHA-256.
-- csrf_token is the synchronizer token every form of the session must carry.
CREATE TABLE web_sessions (
  id_hash      text PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf_token   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
CREATE INDEX web_sessions_expiry ON web_sessions(expires_at);

-- Sign-in attempts, counted per bucket (e.g. 'link-address', 'link-client') and key (an address or a
-- client IP) over a sliding window. In PostgreSQL so that every web process shares the count.
CREATE TABLE web_rate_events (
  bucket text NOT NULL,
  key    text NOT NULL,
  at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_rate_events_key ON web_rate_events(bucket, key, at);
CREATE INDEX web_rate_events_at ON web_rate_events(at);

-- The content classifier's score of the copy, read from its CONTENT_* reason ("content score 0.523; ...")
-- so the quarantine can sort by it without a change to the ingest. NULL when the filter gave no verdict.
-- The pattern only accepts 0..1 with up to six decimals, so the cast can never fail an insert.
ALTER TABLE message_recipients ADD COLUMN score double precision GENERATED ALWAYS AS (
  substring(
    jsonb_path_query_first(reasons, '$[*] ? (@.symbol starts with "CONTENT_").detail') #>> '{}'
    FROM 'content score ([01](?:\.[0-9]{1,6})?)'
  )::double precision
) STORED;

-- The quarantine list: a user's held and discarded copies, newest first or highest score first, paged by
-- keyset (created_at, id) or (score, id).
CREATE INDEX message_recipients_quarantine ON message_recipients(user_id, created_at DESC, id DESC)
  WHERE status IN ('held', 'discarded');
CREATE INDEX message_recipients_quarantine_score ON message_recipients(user_id, (COALESCE(score, -1)) DESC, id DESC)
  WHERE status IN ('held', 'discarded');
