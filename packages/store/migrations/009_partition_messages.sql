-- The stored messages (bodies) and their per-recipient copies are partitioned by month of reception,
-- so that expiry drops a whole old month (DROP TABLE: no vacuum, no bloat) instead of deleting rows.
--
-- Both tables are partitioned by the same key, the message's received_at: a message and all of its
-- copies always live in the partitions of the same month, and the pair can be dropped together.
-- message_recipients.received_at is the message's reception time (copied from messages); a trigger
-- checks it names an existing message (see below for why not a foreign key).
-- message_recipients.created_at keeps its meaning (the quarantine sorts and pages by it).
--
-- Existing rows are copied into the new tables in this migration's transaction; ids and sequences
-- are kept, so outbox jobs that name a recipient id still find it.

ALTER TABLE message_recipients RENAME TO message_recipients_unpartitioned;
ALTER TABLE messages RENAME TO messages_unpartitioned;
-- The sequences outlive the old tables: the new ones keep numbering where the old ones stopped.
ALTER SEQUENCE messages_id_seq OWNED BY NONE;
ALTER SEQUENCE message_recipients_id_seq OWNED BY NONE;

CREATE TABLE messages (
  id                bigint NOT NULL DEFAULT nextval('messages_id_seq'),
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
  raw               bytea,
  auth              jsonb,
  auth_headers      text,
  trace_id          text
) PARTITION BY RANGE (received_at);

CREATE TABLE message_recipients (
  id            bigint NOT NULL DEFAULT nextval('message_recipients_id_seq'),
  message_id    bigint NOT NULL,
  user_id       bigint NOT NULL,
  rcpt_to       text NOT NULL,
  sender        text NOT NULL,
  decision      text NOT NULL,
  reasons       jsonb NOT NULL,
  status        text NOT NULL,
  status_detail text,
  challenge_id  uuid,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  released_at   timestamptz,
  score double precision GENERATED ALWAYS AS (
    substring(
      jsonb_path_query_first(reasons, '$[*] ? (@.symbol starts with "CONTENT_").detail') #>> '{}'
      FROM 'content score ([01](?:\.[0-9]{1,6})?)'
    )::double precision
  ) STORED,
  -- The message's received_at: the partition key, the same as its message's.
  received_at   timestamptz NOT NULL
) PARTITION BY RANGE (received_at);

ALTER SEQUENCE messages_id_seq OWNED BY messages.id;
ALTER SEQUENCE message_recipients_id_seq OWNED BY message_recipients.id;

-- Rows outside every month partition land here, so an insert never fails for want of a partition
-- (a clock far off, or a worker that did not run for months). Creating that month's partition later
-- moves them out (crgate_create_month_partition).
CREATE TABLE messages_default PARTITION OF messages DEFAULT;
CREATE TABLE message_recipients_default PARTITION OF message_recipients DEFAULT;

-- Creates the partitions of the UTC month containing `any_time` for both tables, unless they exist.
-- Rows of that month already caught by the default partitions are moved into the new ones in the same
-- transaction (PostgreSQL refuses to create a partition whose rows sit in the default partition).
-- Returns true when it created them. Called by this migration and by the worker's hourly expiry job.
CREATE FUNCTION crgate_create_month_partition(any_time timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  m      timestamp   := date_trunc('month', any_time AT TIME ZONE 'UTC');
  lo     timestamptz := m AT TIME ZONE 'UTC';
  hi     timestamptz := (m + interval '1 month') AT TIME ZONE 'UTC';
  suffix text        := to_char(m, 'YYYYMM');
  bounds text        := format('FOR VALUES FROM (%L) TO (%L)', to_char(m, 'YYYY-MM-DD "00:00:00+00"'),
                                to_char(m + interval '1 month', 'YYYY-MM-DD "00:00:00+00"'));
  moving boolean;
BEGIN
  -- Several workers may run the hourly job at once: one creates, the others then find it made.
  PERFORM pg_advisory_xact_lock(hashtext('crgate_create_month_partition'));
  IF to_regclass('messages_p' || suffix) IS NOT NULL THEN
    RETURN false;
  END IF;
  moving := EXISTS (SELECT 1 FROM messages_default WHERE received_at >= lo AND received_at < hi);
  IF moving THEN
    CREATE TEMP TABLE crgate_moving_messages AS
      SELECT * FROM messages_default WHERE received_at >= lo AND received_at < hi;
    CREATE TEMP TABLE crgate_moving_recipients AS
      SELECT * FROM message_recipients_default WHERE received_at >= lo AND received_at < hi;
    DELETE FROM message_recipients_default WHERE received_at >= lo AND received_at < hi;
    DELETE FROM messages_default WHERE received_at >= lo AND received_at < hi;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF messages %s', 'messages_p' || suffix, bounds);
  EXECUTE format('CREATE TABLE %I PARTITION OF message_recipients %s', 'message_recipients_p' || suffix, bounds);
  IF moving THEN
    INSERT INTO messages SELECT * FROM crgate_moving_messages;
    INSERT INTO message_recipients (id, message_id, user_id, rcpt_to, sender, decision, reasons, status, status_detail,
                                    challenge_id, created_at, expires_at, released_at, received_at)
      SELECT id, message_id, user_id, rcpt_to, sender, decision, reasons, status, status_detail,
             challenge_id, created_at, expires_at, released_at, received_at
        FROM crgate_moving_recipients;
    DROP TABLE crgate_moving_messages;
    DROP TABLE crgate_moving_recipients;
  END IF;
  RETURN true;
END $$;

-- A partition for every month that holds mail, and for this month and the next two.
SELECT crgate_create_month_partition(month)
  FROM (SELECT DISTINCT date_trunc('month', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month FROM messages_unpartitioned
        UNION
        SELECT now() + make_interval(months => n) FROM generate_series(0, 2) AS n) AS months
 ORDER BY month;

INSERT INTO messages (id, received_at, mail_from, client_address, client_helo, message_id_header, subject, from_header,
                      date_header, size, sha256, raw, auth, auth_headers, trace_id)
  SELECT id, received_at, mail_from, client_address, client_helo, message_id_header, subject, from_header,
         date_header, size, sha256, raw, auth, auth_headers, trace_id
    FROM messages_unpartitioned;
INSERT INTO message_recipients (id, message_id, user_id, rcpt_to, sender, decision, reasons, status, status_detail,
                                challenge_id, created_at, expires_at, released_at, received_at)
  SELECT r.id, r.message_id, r.user_id, r.rcpt_to, r.sender, r.decision, r.reasons, r.status, r.status_detail,
         r.challenge_id, r.created_at, r.expires_at, r.released_at, m.received_at
    FROM message_recipients_unpartitioned r JOIN messages_unpartitioned m ON m.id = r.message_id;

DROP TABLE message_recipients_unpartitioned;
DROP TABLE messages_unpartitioned;

-- Keys and indexes on the partitioned tables: PostgreSQL creates each on every partition, present and
-- future, so every month has the same access paths (the quarantine's keyset paging included).
ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (id, received_at);
CREATE INDEX messages_with_raw ON messages(id) WHERE raw IS NOT NULL;
CREATE INDEX messages_dedupe ON messages(sha256);
CREATE INDEX messages_trace ON messages(trace_id);

ALTER TABLE message_recipients ADD CONSTRAINT message_recipients_pkey PRIMARY KEY (id, received_at);

-- A copy must name a message that exists, with the message's own received_at: that is what keeps a
-- message and its copies in the same month, so that the month's two partitions can go together.
-- Not a foreign key: PostgreSQL checks a foreign key to a partitioned table, when one of its partitions
-- is detached, by joining that partition against every partition of the referencing table (measured:
-- 2 s for a month of 300,000 messages against 1,000,000 copies), under a lock that stops the ingest.
-- This trigger checks the insert as the key would, with one index probe in one partition; deletes are
-- done only by the expiry job (store/src/partitions.ts), copies first.
CREATE FUNCTION crgate_recipient_message_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM messages WHERE id = NEW.message_id AND received_at = NEW.received_at) THEN
    RAISE EXCEPTION 'message % received at % does not exist', NEW.message_id, NEW.received_at
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER message_recipients_message_check BEFORE INSERT OR UPDATE OF message_id, received_at ON message_recipients
  FOR EACH ROW EXECUTE FUNCTION crgate_recipient_message_check();
-- Added after the old tables are gone, so that they keep their names.
ALTER TABLE message_recipients ADD CONSTRAINT message_recipients_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE message_recipients ADD CONSTRAINT message_recipients_challenge_id_fkey
  FOREIGN KEY (challenge_id) REFERENCES challenges(id) ON DELETE SET NULL;
ALTER TABLE message_recipients ADD CONSTRAINT message_recipients_decision_check
  CHECK (decision IN ('deliver', 'challenge', 'quarantine', 'discard'));
ALTER TABLE message_recipients ADD CONSTRAINT message_recipients_status_check
  CHECK (status IN ('delivered', 'held', 'discarded', 'releasing', 'released', 'expired', 'failed'));
CREATE INDEX message_recipients_held_sender ON message_recipients(user_id, sender) WHERE status = 'held';
CREATE INDEX message_recipients_expiry ON message_recipients(expires_at) WHERE status IN ('held', 'discarded');
CREATE INDEX message_recipients_challenge ON message_recipients(challenge_id) WHERE challenge_id IS NOT NULL;
CREATE INDEX message_recipients_message ON message_recipients(message_id);
CREATE INDEX message_recipients_user_created ON message_recipients(user_id, created_at DESC, id DESC);
CREATE INDEX message_recipients_quarantine ON message_recipients(user_id, created_at DESC, id DESC)
  WHERE status IN ('held', 'discarded');
CREATE INDEX message_recipients_quarantine_score ON message_recipients(user_id, (COALESCE(score, -1)) DESC, id DESC)
  WHERE status IN ('held', 'discarded');
-- Copies being released or whose release failed: with message_recipients_expiry (held, discarded) the
-- expiry job finds by index whether a month still holds a copy that needs its message before it drops
-- the month, under a lock; the outbox recovery finds 'releasing' by it too.
CREATE INDEX message_recipients_unfinished ON message_recipients(id) WHERE status IN ('releasing', 'failed');
