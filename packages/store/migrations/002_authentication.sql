-- Authentication results of each message (SPF, DKIM, DMARC, ARC) as the policy saw them, and the
-- Authentication-Results header text added when the message is delivered or released.
ALTER TABLE messages ADD COLUMN auth jsonb;
ALTER TABLE messages ADD COLUMN auth_headers text;

-- The envelope sender exactly as given in MAIL FROM (case and +tag kept): where a challenge must go.
-- challenges.sender stays the normalised form used for matching and whitelisting.
ALTER TABLE challenges ADD COLUMN envelope_sender text;
