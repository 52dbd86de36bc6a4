-- The sent-mail log: Message-IDs of mail our users sent (seen through the outgoing tap or imported
-- from a Sent folder), so replies to it are delivered and bounces about it are told from backscatter.
CREATE TABLE sent_messages (
  id                bigserial PRIMARY KEY,
  user_id           bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  message_id_header text NOT NULL,
  recipients        text[] NOT NULL DEFAULT '{}',
  subject           text,
  sent_at           timestamptz NOT NULL DEFAULT now(),
  source            text NOT NULL CHECK (source IN ('tap', 'import')),
  UNIQUE (user_id, message_id_header)
);
CREATE INDEX sent_messages_lookup ON sent_messages(message_id_header);

-- How the sender authenticated when a whitelist entry was made (SPF domain, DKIM domains), so a later
-- message that claims the address without the same authentication is not let through.
ALTER TABLE list_entries ADD COLUMN auth jsonb;
