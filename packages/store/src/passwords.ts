/**
 * Optional passwords for the recipient's site, hashed with scrypt (Node's crypto, no native addon).
 * Stored as `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>` (base64url), so the cost can be raised later
 * without invalidating existing hashes. Checking an address that has no password still runs one
 * scrypt, so the time taken does not tell whether the address is a user.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { normalizeAddress } from '@crgate/core';
import type { Queryable } from './db.js';
import { UserError } from './users.js';

const LOG_N = 15;
const R = 8;
const P = 1;
const KEY_LEN = 32;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 1024;

function scryptAsync(password: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_LEN, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, LOG_N, R, P);
  return `scrypt$${LOG_N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!m) return false;
  const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (logN < 10 || logN > 20 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await scryptAsync(password, Buffer.from(m[4]!, 'base64url'), logN, r, p);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of nothing in particular, checked against when there is no user or no password. */
let dummyHash: Promise<string> | undefined;

export function checkPasswordRules(password: string): string | null {
  // Characters as people count them (code points), not UTF-16 units: four emoji are four characters,
  // not the eight that let them pass the minimum.
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `a password needs at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `a password may have at most ${PASSWORD_MAX_LENGTH} characters`;
  return null;
}

/**
 * Sets (or with null removes) the password of the user the address belongs to (primary or alias).
 * Throws UserError for an unknown address or a password that breaks the rules.
 */
export async function setPassword(db: Queryable, address: string, password: string | null): Promise<void> {
  if (password !== null) {
    const bad = checkPasswordRules(password);
    if (bad) throw new UserError(bad);
  }
  const hash = password === null ? null : await hashPassword(password);
  const res = await db.query(
    'UPDATE users SET password_hash = $2 WHERE id = (SELECT user_id FROM user_addresses WHERE address = $1)',
    [normalizeAddress(address), hash],
  );
  if (!res.rowCount) throw new UserError(`no user ${normalizeAddress(address)}`);
}

export async function setPasswordForUser(db: Queryable, userId: number, password: string): Promise<void> {
  const bad = checkPasswordRules(password);
  if (bad) throw new UserError(bad);
  await db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [userId, await hashPassword(password)]);
}

/** Removes the user's password: they sign in with mailed links only. */
export async function removePasswordForUser(db: Queryable, userId: number): Promise<void> {
  await db.query('UPDATE users SET password_hash = NULL WHERE id = $1', [userId]);
}

/** The user id when the address (primary or alias) has this password; undefined otherwise. */
export async function checkPassword(db: Queryable, address: string, password: string): Promise<number | undefined> {
  if (password.length > PASSWORD_MAX_LENGTH) return undefined;
  const { rows } = await db.query<{ id: number; password_hash: string | null }>(
    'SELECT u.id, u.password_hash FROM users u JOIN user_addresses a ON a.user_id = u.id WHERE a.address = $1',
    [normalizeAddress(address)],
  );
  const row = rows[0];
  if (!row?.password_hash) {
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    await verifyPassword(password, await dummyHash);
    return undefined;
  }
  return (await verifyPassword(password, row.password_hash)) ? row.id : undefined;
}

export async function checkPasswordForUser(db: Queryable, userId: number, password: string): Promise<boolean> {
  const { rows } = await db.query<{ password_hash: string | null }>('SELECT password_hash FROM users WHERE id = $1', [userId]);
  const hash = rows[0]?.password_hash;
  return hash ? verifyPassword(password, hash) : false;
}
