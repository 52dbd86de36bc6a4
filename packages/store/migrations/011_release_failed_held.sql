-- A release refused downstream used to leave its copy 'failed': out of the recipient's sight, never
-- expired, and keeping its month's partition for good. Such a copy is held again now, with the reason,
-- for the recipient to release once more (markDeliveryFailed); so are the copies left 'failed' before.
-- One whose body is gone can never be delivered: it expires.
UPDATE message_recipients r
   SET status = 'held', expires_at = GREATEST(COALESCE(r.expires_at, now()), now() + interval '7 days')
 WHERE r.status = 'failed' AND EXISTS (SELECT 1 FROM messages m WHERE m.id = r.message_id AND m.raw IS NOT NULL);
UPDATE message_recipients SET status = 'expired' WHERE status = 'failed';
