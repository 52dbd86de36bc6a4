-- Work put back in the outbox by the stranded-work recovery (requeueStranded) may still exist in BullMQ
-- as a *failed* job under the same id: its last retry failed and recording the failure failed too
-- (PostgreSQL away at that moment), so the state still says the work is due. Adding a job under an id
-- BullMQ holds is ignored, so such work stayed undone until BullMQ forgot the failed job (30 days).
-- Rows marked here tell the relay to retry a failed job of that id instead.
ALTER TABLE outbox ADD COLUMN retry_failed boolean NOT NULL DEFAULT false;
