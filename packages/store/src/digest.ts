/** What a digest covers: users due for one, and the held or discarded copies new since the last. */
import type { Queryable } from './db.js';
import { MARKED_SPAM_DETAIL } from './quarantine.js';

export interface DigestItem {
  recipientId: number;
  sender: string;
  subject: string | null;
  decision: string;
  createdAt: Date;
}

export interface DigestDue {
  userId: number;
  address: string;
  language: string;
  since: Date;
  /** The end of the period covered: the next digest starts here (markDigestSent). */
  until: Date;
  items: DigestItem[];
  total: number;
}

const PERIOD = { daily: '1 day', weekly: '7 days' } as const;

/**
 * A digest covers mail up to this long before it is made. A copy's time is taken when the ingest
 * decides, and its transaction commits a little later (seconds for a large body): covering up to the
 * very moment would miss a copy stamped before it but committed after the query, in this digest and
 * the next. Ending every period this far back also keeps the daily time from creeping: the next digest
 * is due a day after the period's end, not after the moment the previous one was made.
 */
export const DIGEST_LAG_MS = 5 * 60_000;

/** Users whose digest period has passed and who have new quarantined mail (at most `maxItems` listed each). */
export async function digestsDue(db: Queryable, now: Date, maxItems = 50): Promise<DigestDue[]> {
  const { rows: users } = await db.query<{ id: number; address: string; language: string; since: Date }>(
    `SELECT u.id, u.address, u.language,
            COALESCE(u.last_digest_at, $1::timestamptz - (CASE u.digest_frequency WHEN 'weekly' THEN interval '${PERIOD.weekly}' ELSE interval '${PERIOD.daily}' END)) AS since
       FROM users u
      WHERE u.digest_frequency <> 'off'
        AND (u.last_digest_at IS NULL
             OR u.last_digest_at <= $1::timestamptz - (CASE u.digest_frequency WHEN 'weekly' THEN interval '${PERIOD.weekly}' ELSE interval '${PERIOD.daily}' END))`,
    [now],
  );
  const until = new Date(now.getTime() - DIGEST_LAG_MS);
  const out: DigestDue[] = [];
  for (const u of users) {
    const { rows } = await db.query(
      `SELECT r.id, r.sender, m.subject, r.decision, r.created_at, count(*) OVER ()::int AS total
         FROM message_recipients r JOIN messages m ON m.id = r.message_id
        WHERE r.user_id = $1 AND r.status IN ('held', 'discarded') AND r.created_at > $2 AND r.created_at <= $4
          -- A copy the recipient already marked as spam on the site is nothing new to them.
          AND r.status_detail IS DISTINCT FROM $5
        ORDER BY r.created_at DESC, r.id DESC LIMIT $3`,
      [u.id, u.since, maxItems, until, MARKED_SPAM_DETAIL],
    );
    if (rows.length === 0) continue;
    out.push({
      userId: u.id,
      address: u.address,
      language: u.language,
      since: u.since,
      until,
      total: rows[0].total,
      items: rows.map((r) => ({ recipientId: r.id, sender: r.sender, subject: r.subject, decision: r.decision, createdAt: r.created_at })),
    });
  }
  return out;
}

/**
 * Ends the period of each user whose digest is due but who has nothing new in it, as a sent digest
 * would (at `now` minus DIGEST_LAG_MS). Without this a quiet day left the period open, and the first
 * message held after it was mailed within the hour, at whatever time it came: the daily digest moved to
 * that hour. A user who never had a digest has no hour to keep and is left alone (their first digest
 * comes with their first held mail). One statement, and only for a period still due and still empty:
 * a digest another worker sends meanwhile moves last_digest_at on and the row no longer matches.
 */
export async function closeQuietPeriods(db: Queryable, now: Date): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE users u SET last_digest_at = $2
      WHERE u.digest_frequency <> 'off'
        AND u.last_digest_at IS NOT NULL
        AND u.last_digest_at <= $1::timestamptz - (CASE u.digest_frequency WHEN 'weekly' THEN interval '${PERIOD.weekly}' ELSE interval '${PERIOD.daily}' END)
        AND NOT EXISTS (SELECT 1 FROM message_recipients r
                         WHERE r.user_id = u.id AND r.status IN ('held', 'discarded')
                           AND r.created_at > u.last_digest_at AND r.created_at <= $2
                           AND r.status_detail IS DISTINCT FROM $3)`,
    [now, new Date(now.getTime() - DIGEST_LAG_MS), MARKED_SPAM_DETAIL],
  );
  return rowCount ?? 0;
}

/**
 * Whether the user's digest is still to be sent for the period digestsDue found (`since`): another
 * worker's run may have sent it meanwhile, moving last_digest_at past `since`.
 */
export async function digestStillDue(db: Queryable, userId: number, since: Date): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM users WHERE id = $1 AND (last_digest_at IS NULL OR last_digest_at <= $2)', [userId, since]);
  return (rowCount ?? 0) > 0;
}

export async function markDigestSent(db: Queryable, userId: number, at: Date): Promise<void> {
  await db.query('UPDATE users SET last_digest_at = $2 WHERE id = $1', [userId, at]);
}
