/**
 * Sliding-window counters for the recipient site's sign-in attempts, kept in PostgreSQL: the web role
 * has no Redis, and every web process (there may be several behind a proxy) must share one count, which
 * an in-memory counter per process would not do (nor survive a restart). Sign-ins are rare, so a row
 * per attempt is cheap; rows older than a day are deleted as new ones come.
 */
import type { Db } from './db.js';
import { withTransaction } from './db.js';

export interface RateLimitCheck {
  bucket: string;
  key: string;
  limit: number;
  windowMs: number;
}

/**
 * Records one attempt against every check and answers whether all of them still allowed it. A check
 * that is already at its limit records nothing more, so a flood does not keep extending its own block.
 * Checks are serialised per (bucket, key) with a transaction-scoped advisory lock, so parallel
 * requests cannot all slip under the limit.
 */
export async function takeRateLimit(db: Db, checks: RateLimitCheck[], now: Date): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    const ordered = [...checks].sort((a, b) => `${a.bucket}:${a.key}`.localeCompare(`${b.bucket}:${b.key}`));
    let allowed = true;
    for (const c of ordered) {
      await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`crgate-web-rate:${c.bucket}:${c.key}`]);
      const { rows } = await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM web_rate_events WHERE bucket = $1 AND key = $2 AND at > $3`,
        [c.bucket, c.key, new Date(now.getTime() - c.windowMs)],
      );
      if (rows[0]!.n >= c.limit) allowed = false;
    }
    if (allowed) {
      for (const c of ordered) await tx.query('INSERT INTO web_rate_events (bucket, key, at) VALUES ($1, $2, $3)', [c.bucket, c.key, now]);
    }
    await tx.query(`DELETE FROM web_rate_events WHERE at < $1::timestamptz - interval '1 day'`, [now]);
    return allowed;
  });
}

export type RateSlot = { allowed: true; count: number } | { allowed: false; retryAfterMs: number };

/**
 * Takes one slot of a single check, for attempts known to count only after the fact (a link token is
 * bad once looked up): the slot is recorded before the look-up, so parallel requests cannot all slip
 * under the limit, and `forgiveRateSlot` gives it back when the attempt turns out fine. Answers how
 * many slots the window now holds, or, when it is full, how long until its oldest slot leaves it.
 */
export async function takeRateSlot(db: Db, check: RateLimitCheck, now: Date): Promise<RateSlot> {
  return withTransaction(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`crgate-web-rate:${check.bucket}:${check.key}`]);
    const since = new Date(now.getTime() - check.windowMs);
    const { rows } = await tx.query<{ n: number; oldest: Date | null }>(
      `SELECT count(*)::int AS n, min(at) AS oldest FROM web_rate_events WHERE bucket = $1 AND key = $2 AND at > $3`,
      [check.bucket, check.key, since],
    );
    const { n, oldest } = rows[0]!;
    if (n >= check.limit) return { allowed: false, retryAfterMs: Math.max(1000, oldest!.getTime() + check.windowMs - now.getTime()) };
    await tx.query('INSERT INTO web_rate_events (bucket, key, at) VALUES ($1, $2, $3)', [check.bucket, check.key, now]);
    await tx.query(`DELETE FROM web_rate_events WHERE at < $1::timestamptz - interval '1 day'`, [now]);
    return { allowed: true, count: n + 1 };
  });
}

/** Gives back a slot taken by `takeRateSlot` at `at` (one row, should the client have taken two at once). */
export async function forgiveRateSlot(db: Db, check: Pick<RateLimitCheck, 'bucket' | 'key'>, at: Date): Promise<void> {
  await db.query(
    `DELETE FROM web_rate_events WHERE ctid = (SELECT ctid FROM web_rate_events WHERE bucket = $1 AND key = $2 AND at = $3 LIMIT 1)`,
    [check.bucket, check.key, at],
  );
}
