/**
 * Single-use sign-in links for the recipient's site. A token is 256 random bits (43 base64url
 * characters); only its SHA-256 is stored, and it is found by that hash, so the token itself never
 * reaches the database and a database reader cannot sign in. A link works once, before it expires.
 */
import { randomBytes } from 'node:crypto';
import { hashToken, isWellFormedToken } from '@crgate/core';
import type { Queryable } from './db.js';

/** How long a mailed sign-in link works. */
export const SIGN_IN_LINK_TTL_MS = 15 * 60_000;

export type SignInLinkState = 'valid' | 'unknown' | 'spent' | 'expired';

/** Creates a link for the user and returns its token (to be mailed, never stored). */
export async function createSignInLink(db: Queryable, userId: number, now: Date, ttlMs = SIGN_IN_LINK_TTL_MS): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await db.query('INSERT INTO sign_in_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [
    hashToken(token),
    userId,
    now,
    new Date(now.getTime() + ttlMs),
  ]);
  // Spent and long-expired links are only history: keep the table small.
  await db.query(`DELETE FROM sign_in_links WHERE expires_at < $1::timestamptz - interval '1 day'`, [now]);
  return token;
}

/** What a link is now, without using it (the GET page only shows a button). */
export async function signInLinkState(db: Queryable, token: string, now: Date): Promise<SignInLinkState> {
  if (!isWellFormedToken(token)) return 'unknown';
  const { rows } = await db.query<{ used_at: Date | null; expires_at: Date }>(
    'SELECT used_at, expires_at FROM sign_in_links WHERE token_hash = $1',
    [hashToken(token)],
  );
  const row = rows[0];
  if (!row) return 'unknown';
  if (row.used_at) return 'spent';
  return row.expires_at <= now ? 'expired' : 'valid';
}

/**
 * Spends a link: one UPDATE that succeeds only for an unused, unexpired link, so two requests racing
 * with the same link cannot both sign in.
 */
export async function consumeSignInLink(
  db: Queryable,
  token: string,
  now: Date,
): Promise<{ ok: true; userId: number } | { ok: false; why: Exclude<SignInLinkState, 'valid'> }> {
  if (!isWellFormedToken(token)) return { ok: false, why: 'unknown' };
  const { rows } = await db.query<{ user_id: number }>(
    `UPDATE sign_in_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id`,
    [hashToken(token), now],
  );
  if (rows[0]) return { ok: true, userId: rows[0].user_id };
  const state = await signInLinkState(db, token, now);
  return { ok: false, why: state === 'valid' ? 'spent' : state };
}
