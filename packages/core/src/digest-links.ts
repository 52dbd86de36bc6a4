/**
 * Links in digest mails. A digest link opens one held message and can release only that message, and
 * only through a POST on the page it opens (mail scanners follow every GET). It is signed rather than
 * stored: `<copy>.<user>.<expiry>.<HMAC>`, the HMAC keyed by the web key derived from the token secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The one secret the web role needs, derived from CRGATE_SECRET (or the stored secret). */
export function deriveWebSecret(secret: string): string {
  return createHmac('sha256', secret).update('crgate web site v1').digest('base64url');
}

function mac(webSecret: string, payload: string): string {
  return createHmac('sha256', webSecret).update(`digest link\0${payload}`).digest('base64url');
}

export function digestToken(webSecret: string, recipientId: number, userId: number, expiresAt: Date): string {
  const payload = `${recipientId}.${userId}.${Math.floor(expiresAt.getTime() / 1000)}`;
  return `${payload}.${mac(webSecret, payload)}`;
}

export function readDigestToken(webSecret: string, token: string, now: Date): { recipientId: number; userId: number } | null {
  const m = /^(\d{1,15})\.(\d{1,15})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) return null;
  const expected = Buffer.from(mac(webSecret, `${m[1]}.${m[2]}.${m[3]}`));
  const given = Buffer.from(m[4]!);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  if (Number(m[3]) * 1000 <= now.getTime()) return null;
  return { recipientId: Number(m[1]), userId: Number(m[2]) };
}
