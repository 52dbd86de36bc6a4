/**
 * The keys of the recipient's site, derived from one secret with HMAC and a label per use, so the web
 * role can be handed `deriveWebSecret(secret)` and never the token secret itself (it could build
 * challenge links with that), and the session key and the CSRF key can never be swapped for each other.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface WebKeys {
  /** Signs session cookies. */
  session: Buffer;
  /** Derives the CSRF token of a visitor who is not signed in from their pre-session cookie. */
  csrf: Buffer;
}

export { deriveWebSecret } from '@crgate/core';

export function deriveWebKeys(webSecret: string): WebKeys {
  const key = (label: string) => createHmac('sha256', webSecret).update(label).digest();
  return { session: key('session cookie'), csrf: key('pre-session csrf') };
}

export function mac(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

export function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `value.mac`, for a cookie. */
export function signValue(key: Buffer, value: string): string {
  return `${value}.${mac(key, value)}`;
}

/** The value of a `value.mac` string whose MAC is right; undefined otherwise. */
export function verifySigned(key: Buffer, signed: string | undefined): string | undefined {
  if (!signed) return undefined;
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const value = signed.slice(0, dot);
  return sameString(signed.slice(dot + 1), mac(key, value)) ? value : undefined;
}
