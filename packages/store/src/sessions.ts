/**
 * Sessions of the recipient's site. The session id (256 random bits) lives only in the user's cookie;
 * the table keeps its SHA-256, so a database reader cannot take over a session. Each session has its
 * own CSRF (synchronizer) token. Sessions end at a fixed time after sign-in, or at sign-out.
 */
import { randomBytes } from 'node:crypto';
import { hashToken } from '@crgate/core';
import type { Queryable } from './db.js';

export interface WebSession {
  userId: number;
  /** The user's primary address. */
  address: string;
  csrfToken: string;
  /** Read with the session on every request, so revoking the flag takes effect at once. */
  isAdmin: boolean;
  createdAt: Date;
  expiresAt: Date;
  /** How the session began: a mailed link proves the mailbox is the user's, a password does not. */
  signedInBy: SignInMethod;
}

export type SignInMethod = 'link' | 'password';

/** Starts a session; returns the id to put in the cookie (never stored) and its CSRF token. */
export async function createSession(
  db: Queryable,
  userId: number,
  now: Date,
  lifetimeMs: number,
  signedInBy: SignInMethod = 'password',
): Promise<{ id: string; csrfToken: string }> {
  const id = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  await db.query(
    `INSERT INTO web_sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at, signed_in_by) VALUES ($1, $2, $3, $4, $5, $4, $6)`,
    [hashToken(id), userId, csrfToken, now, new Date(now.getTime() + lifetimeMs), signedInBy],
  );
  await db.query('DELETE FROM web_sessions WHERE expires_at < $1', [now]);
  return { id, csrfToken };
}

/** The live session with this id, or undefined (unknown, expired, or its user removed). */
export async function findSession(db: Queryable, id: string, now: Date): Promise<WebSession | undefined> {
  const { rows } = await db.query(
    `UPDATE web_sessions s SET last_seen_at = $2 FROM users u
      WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.id = s.user_id
      RETURNING s.user_id, u.address, u.is_admin, s.csrf_token, s.created_at, s.expires_at, s.signed_in_by`,
    [hashToken(id), now],
  );
  const row = rows[0];
  return row
    ? {
        userId: row.user_id,
        address: row.address,
        csrfToken: row.csrf_token,
        isAdmin: row.is_admin,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        signedInBy: row.signed_in_by,
      }
    : undefined;
}

export async function deleteSession(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM web_sessions WHERE id_hash = $1', [hashToken(id)]);
}

/** Ends every session of a user (after a password change, say). Returns how many ended. */
export async function deleteUserSessions(db: Queryable, userId: number, exceptId?: string): Promise<number> {
  const res = await db.query('DELETE FROM web_sessions WHERE user_id = $1 AND id_hash IS DISTINCT FROM $2', [
    userId,
    exceptId ? hashToken(exceptId) : null,
  ]);
  return res.rowCount ?? 0;
}
