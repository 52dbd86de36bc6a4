/** The sent-mail log (outgoing tap and `crgate import-sent`) and the whitelist entries it makes. */
import { domainOf, normalizeAddress } from '@crgate/core';
import type { Db, Queryable } from './db.js';
import { withTransaction } from './db.js';
import { storableOptional, storableText } from './storable.js';
import { listLocalDomains } from './users.js';

export interface SentMessage {
  userId: number;
  messageId: string;
  recipients: string[];
  subject?: string;
  sentAt?: Date;
  source: 'tap' | 'import';
}

/**
 * Records a sent message and whitelists its recipients for the sender (source: outgoing), in one
 * transaction. Idempotent: the same Message-ID twice records once. Returns the recipients added.
 * Addresses in the protected domains are logged but not whitelisted: mail that claims one of them is
 * let in by SPF or DKIM (FORGED_LOCAL_SENDER), and a whitelist entry, which comes earlier in the
 * policy, would let anybody outside who writes "From: colleague@our.domain" through.
 */
export async function recordSentMessage(db: Db, sent: SentMessage): Promise<string[]> {
  const recipients = [...new Set(sent.recipients.map(normalizeAddress))];
  return withTransaction(db, async (tx) => {
    const local = new Set(await listLocalDomains(tx));
    await tx.query(
      `INSERT INTO sent_messages (user_id, message_id_header, recipients, subject, sent_at, source)
       VALUES ($1, $2, $3, $4, COALESCE($5, now()), $6)
       ON CONFLICT (user_id, message_id_header) DO NOTHING`,
      [sent.userId, storableText(sent.messageId), recipients, storableOptional(sent.subject) ?? null, sent.sentAt ?? null, sent.source],
    );
    const added: string[] = [];
    for (const r of recipients) {
      if (local.has(domainOf(r))) continue;
      const res = await tx.query(
        `INSERT INTO list_entries (user_id, list, kind, value, source) VALUES ($1, 'white', 'address', $2, 'outgoing')
         ON CONFLICT (user_id, list, kind, value) DO NOTHING`,
        [sent.userId, r],
      );
      if (res.rowCount) added.push(r);
    }
    return added;
  });
}

/** Which of `messageIds` the user sent; and whether the user has a sent-mail log at all. */
export async function findSentMatches(db: Queryable, userIds: number[], messageIds: string[]): Promise<Map<number, { matched: string[]; hasLog: boolean }>> {
  const out = new Map<number, { matched: string[]; hasLog: boolean }>();
  if (userIds.length === 0) return out;
  const { rows } = await db.query<{ user_id: number; matched: string[] | null; has_log: boolean }>(
    `SELECT u.id AS user_id,
            (SELECT array_agg(s.message_id_header) FROM sent_messages s
              WHERE s.user_id = u.id AND s.message_id_header = ANY($2::text[])) AS matched,
            EXISTS (SELECT 1 FROM sent_messages s WHERE s.user_id = u.id) AS has_log
       FROM users u WHERE u.id = ANY($1::bigint[])`,
    [userIds, messageIds],
  );
  for (const r of rows) out.set(r.user_id, { matched: r.matched ?? [], hasLog: r.has_log });
  return out;
}
