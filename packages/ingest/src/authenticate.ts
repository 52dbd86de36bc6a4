/**
 * SPF, DKIM, DMARC and ARC with mailauth, turned into the facts the policy reads and the
 * Authentication-Results header added to delivered mail. The client address comes from XFORWARD when
 * the MTA sent it, else from the newest Received header (the one our MTA wrote).
 */
import { authenticate } from 'mailauth';
import type { AuthFacts, AuthResult } from '@crgate/core';
import type { ResolveFn } from './dns-resolver.js';

const KNOWN: ReadonlySet<string> = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror', 'policy']);

function result(value: unknown): AuthResult {
  const v = String(value ?? '').toLowerCase();
  if (v === 'temperr') return 'temperror';
  return KNOWN.has(v) ? (v as AuthResult) : 'unknown';
}

export interface AuthOutcome {
  facts: AuthFacts;
  /** Authentication-Results (and Received-SPF) lines, CRLF-terminated, to prepend on delivery. */
  headers: string;
}

export async function checkAuthentication(
  raw: Buffer,
  opts: { mailFrom: string; clientAddress?: string; clientHelo?: string; hostname: string; resolver: ResolveFn },
): Promise<AuthOutcome> {
  const res = await authenticate(raw, {
    sender: opts.mailFrom,
    ip: opts.clientAddress,
    helo: opts.clientHelo,
    trustReceived: !opts.clientAddress,
    mta: opts.hostname,
    resolver: opts.resolver as never,
    disableBimi: true,
  });
  // Without a client address SPF has nothing to check: unknown, not an error of the sender's.
  const spf =
    res.spf && res.spf['client-ip'] ? { result: result(res.spf.status?.result), domain: res.spf.domain } : { result: 'unknown' as AuthResult };
  const dkim = (res.dkim?.results ?? [])
    .filter((r) => r.signingDomain)
    .map((r) => ({ domain: String(r.signingDomain).toLowerCase(), result: result(r.status?.result) }));
  const dmarc = res.dmarc
    ? { result: result(res.dmarc.status?.result), domain: res.dmarc.domain, policy: res.dmarc.policy || res.dmarc.p || undefined }
    : { result: 'unknown' as AuthResult };
  const arc = { result: res.arc ? result(res.arc.status?.result) : ('none' as AuthResult) };
  const clientKnown = Boolean(opts.clientAddress || (res.spf && res.spf['client-ip']));
  return {
    facts: { spf, dkim, dmarc, arc, clientKnown },
    headers: (res.headers ?? '').replace(/\r?\n/g, '\r\n'),
  };
}
