/** Installation-wide settings kept in the database, such as the generated token secret. */
import { randomBytes } from 'node:crypto';
import type { Logger } from '@crgate/core';
import type { Queryable } from './db.js';

/**
 * The configured secret, or the one generated on first use and stored in the database (so every role
 * and every restart agree on it). Logs when it generates one.
 */
export async function resolveSecret(db: Queryable, configured: string | undefined, logger: Logger): Promise<string> {
  if (configured) return configured;
  const candidate = randomBytes(32).toString('base64url');
  const inserted = await db.query(
    `INSERT INTO settings (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING RETURNING value`,
    [candidate],
  );
  if (inserted.rowCount) {
    logger.warn(
      { event: 'secret.generated' },
      'CRGATE_SECRET is not set: generated a token secret and stored it in the database (settings.secret)',
    );
    return candidate;
  }
  const { rows } = await db.query<{ value: string }>(`SELECT value FROM settings WHERE key = 'secret'`);
  return rows[0]!.value;
}
