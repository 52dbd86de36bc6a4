/**
 * Challenge tokens. A token is HMAC-SHA256(secret, challenge id ‖ 128-bit random nonce): the database
 * keeps only the nonce and the token's SHA-256, so a database reader without the secret cannot build a link, while the
 * worker can rebuild the same token on a retry (a retried send carries the same link). That holds when
 * CRGATE_SECRET is set; when it is not, the generated secret lives in the database too, so set it in
 * production.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

export function deriveChallengeToken(secret: string, challengeId: string, nonce: string): string {
  return createHmac('sha256', secret).update(`challenge\0${challengeId}\0${nonce}`).digest('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Tokens are 43 base64url characters; anything else is refused before it reaches the database. */
export function isWellFormedToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}
