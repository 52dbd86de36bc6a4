-- crgate_create_month_partition again, with one change: it locks both parent tables against writes
-- before it looks for rows of the month in the default partitions. Without the lock, a message being
-- stored for that month while the function ran was invisible to its check, and CREATE TABLE … PARTITION
-- OF then waited for that insert, found the row in the default partition and failed (23514), which
-- failed the hourly expiry sweep. Writers wait for the lock for at most the caller's lock_timeout.
CREATE OR REPLACE FUNCTION crgate_create_month_partition(any_time timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
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
  -- Only when a partition is to be made, so the hourly call that finds them made locks nothing.
  -- Parents before partitions, the order expireHistory takes them in too.
  LOCK TABLE messages, message_recipients IN SHARE ROW EXCLUSIVE MODE;
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
