-- The trace id of a message: every log line of its life (LMTP session, storage, challenge, release,
-- learning) carries it, so an operator can follow one message with a single search.
ALTER TABLE messages ADD COLUMN trace_id text;
CREATE INDEX messages_trace ON messages(trace_id);
