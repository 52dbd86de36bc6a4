-- The operator overview of the recipient's site: which users may see it, and what its counts by time
-- read.

-- Admins see /admin (counts of every user's mail); set with `crgate users add --admin` or
-- `crgate users admin ADDRESS [--off]`.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;

-- Counts over a period (the overview, `crgate stats`) read copies by time across all users. Copies are
-- written in time order, so a BRIN index finds a period's pages for a few kilobytes of index and next
-- to no cost per insert (a B-tree would add a write to every copy the ingest stores).
CREATE INDEX message_recipients_created_brin ON message_recipients USING brin (created_at);
-- Confirmations per day or hour: only confirmed challenges are in this index.
CREATE INDEX challenges_confirmed ON challenges(confirmed_at) WHERE confirmed_at IS NOT NULL;
-- Challenges created in a period (their outcomes: the confirmation rate).
CREATE INDEX challenges_created_brin ON challenges USING brin (created_at);

