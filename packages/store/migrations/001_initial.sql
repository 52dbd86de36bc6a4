-- crgate initial schema: users and their addresses, lists, messages held per recipient, challenges,
-- and the transactional outbox that feeds BullMQ.

CREATE TABLE settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id                 bigserial PRIMARY KEY,
  address            text NOT NULL UNIQUE,
  challenges_enabled boolean NOT NULL DEFAULT true,
  language           text NOT NULL DEFAULT 'en',
  created_at         timestamptz NOT NULL DEFAULT now()
);

-- Every address that reaches a user: the primary one and its aliases, normalised (lower case, no +tag).
CREATE TABLE user_addresses (
  address    text PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  is_primary boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_addresses_user ON user_addresses(user_id);

CREATE TABLE list_entries (
  id         bigserial PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  list       text NOT NULL CHECK (list IN ('white', 'black')),
  kind       text NOT NULL CHECK (kind IN ('address', 'domain')),
  value      text NOT NULL,
  source     text NOT NULL CHECK (source IN ('confirmed', 'outgoing', 'manual', 'import')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, list, kind, value)
);
CREATE INDEX list_entries_value ON list_entries(value);

-- Senders who asked not to be challenged again (from a challenge page).
CREATE TABLE sender_preferences (
  address      text PRIMARY KEY,
  no_challenge boolean NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per message received; raw is kept only while some recipient's copy is held or discarded.
CREATE TABLE messages (
  id                bigserial PRIMARY KEY,
  received_at       timestamptz NOT NULL DEFAULT now(),
  mail_from         text NOT NULL,
  client_address    text,
  client_helo       text,
  message_id_header text,
  subject           text,
  from_header       text,
  date_header       timestamptz,
  size              integer NOT NULL,
  sha256            text NOT NULL,
  raw               bytea
);
CREATE INDEX messages_with_raw ON messages(id) WHERE raw IS NOT NULL;
CREATE INDEX messages_dedupe ON messages(sha256);

CREATE TABLE challenges (
  id                  uuid PRIMARY KEY,
  user_id             bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  sender              text NOT NULL,
  nonce               text NOT NULL,
  token_hash          text NOT NULL UNIQUE,
  status              text NOT NULL CHECK (status IN ('queued', 'sent', 'suppressed', 'confirmed', 'expired')),
  status_reason       text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  expires_at          timestamptz NOT NULL,
  sent_at             timestamptz,
  confirmed_at        timestamptz,
  our_message_id      text NOT NULL UNIQUE,
  original_subject    text,
  original_date       timestamptz,
  original_message_id text
);
-- At most one challenge per (recipient, sender) can be confirmed at a time: the idempotency key.
CREATE UNIQUE INDEX challenges_active_pair ON challenges(user_id, sender) WHERE status IN ('queued', 'sent');
CREATE INDEX challenges_pair_created ON challenges(user_id, sender, created_at DESC);
CREATE INDEX challenges_expiry ON challenges(expires_at) WHERE status IN ('queued', 'sent');

-- The decision for each recipient of each message, and the life of its copy.
CREATE TABLE message_recipients (
  id           bigserial PRIMARY KEY,
  message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  rcpt_to      text NOT NULL,
  sender       text NOT NULL,
  decision     text NOT NULL CHECK (decision IN ('deliver', 'challenge', 'quarantine', 'discard')),
  reasons      jsonb NOT NULL,
  status       text NOT NULL CHECK (status IN ('delivered', 'held', 'discarded', 'releasing', 'released', 'expired', 'failed')),
  status_detail text,
  challenge_id uuid REFERENCES challenges(id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  released_at  timestamptz
);
CREATE INDEX message_recipients_held_sender ON message_recipients(user_id, sender) WHERE status = 'held';
CREATE INDEX message_recipients_expiry ON message_recipients(expires_at) WHERE status IN ('held', 'discarded');
CREATE INDEX message_recipients_challenge ON message_recipients(challenge_id) WHERE challenge_id IS NOT NULL;
CREATE INDEX message_recipients_message ON message_recipients(message_id);
CREATE INDEX message_recipients_user_created ON message_recipients(user_id, created_at DESC, id DESC);

-- Jobs to hand to BullMQ, written in the same transaction as the state they act on, so a Redis outage
-- or a crash between commit and enqueue loses nothing; the relay moves them with stable job ids.
CREATE TABLE outbox (
  id         bigserial PRIMARY KEY,
  queue      text NOT NULL,
  job_name   text NOT NULL,
  job_id     text NOT NULL,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION crgate_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('crgate_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION crgate_outbox_notify();
