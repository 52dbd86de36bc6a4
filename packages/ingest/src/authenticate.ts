/**
 * SPF, DKIM, DMARC and ARC with mailauth, turned into the facts the policy reads and the
 * Authentication-Results header added to delivered mail. The client address comes from XFORWARD when
 * the MTA sent it, else from the newest Received header (the one our MTA wrote).
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { authenticate } from 'mailauth';
import { alignedDomains, type AuthFacts, type AuthResult } from '@crgate/core';
import type { ResolveFn } from './dns-resolver.js';

const KNOWN: ReadonlySet<string> = new Set(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror', 'policy']);

/** mailauth's reasons for not evaluating DMARC at all, as an operator reads them. */
const MALFORMED_FROM: Record<string, string> = {
  'multiple-from-fields': 'the message has several From: fields',
  'multiple-author-domains': 'the From: field names addresses in several domains',
  'invalid-author-domain': 'the From: address has no usable domain',
  'no-author-domain': 'the message has no From: address',
};

/** Whether the header block has a From: field (bounded already: at most so many fields). */
function hasFromField(raw: Buffer): boolean {
  const ends = [raw.indexOf('\n\r\n'), raw.indexOf('\n\n')].filter((i) => i >= 0);
  const end = ends.length ? Math.min(...ends) + 1 : raw.length;
  return /(?:^|\n)from[ \t]*:/i.test(raw.subarray(0, end).toString('latin1'));
}

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

/**
 * At most this many DKIM-Signature fields are verified, the first ones (the newest, added by the last
 * hops). RFC 6376 §6.1 lets a verifier limit the signatures it checks; KumoMTA, for one, stops at 10.
 * mailauth verifies every one and keeps a body hasher per (canonicalisation, algorithm, l=): a message
 * with 200 signatures of distinct l= hashed its body 200 times and looked up 200 keys (over 1 s of CPU,
 * docs/performance.md).
 */
export const MAX_DKIM_SIGNATURES = 10;
/** mailauth parses every header field it gets; it gets at most the first this many (as the decision does). */
export const MAX_AUTH_HEADER_FIELDS = 5000;

/**
 * The message as mailauth is given it: unchanged unless its header block has more than
 * MAX_AUTH_HEADER_FIELDS fields or more than MAX_DKIM_SIGNATURES DKIM-Signature fields; then a copy
 * without the fields past either limit. The bytes stored and delivered are never changed.
 */
export function boundedForAuthentication(raw: Buffer): Buffer {
  // Field starts, by scanning the header block once: a line that does not start with white space.
  const starts: number[] = [];
  let dkim = 0;
  let over = false;
  let end = raw.length;
  for (let i = 0; i < raw.length; ) {
    const c = raw[i];
    if (c === 0x0a || (c === 0x0d && raw[i + 1] === 0x0a)) {
      end = i; // the blank line: the body follows
      break;
    }
    if (c !== 0x20 && c !== 0x09) {
      starts.push(i);
      if ((c === 0x44 || c === 0x64) && raw.subarray(i, i + 15).toString('latin1').toLowerCase() === 'dkim-signature:') dkim++;
      if (starts.length > MAX_AUTH_HEADER_FIELDS || dkim > MAX_DKIM_SIGNATURES) over = true;
    }
    const nl = raw.indexOf(0x0a, i);
    if (nl < 0) break;
    i = nl + 1;
  }
  if (!over) return raw;
  const kept: Buffer[] = [];
  let signatures = 0;
  for (let f = 0; f < starts.length && f < MAX_AUTH_HEADER_FIELDS; f++) {
    const from = starts[f]!;
    const to = f + 1 < starts.length ? starts[f + 1]! : end;
    if (raw.subarray(from, from + 15).toString('latin1').toLowerCase() === 'dkim-signature:' && ++signatures > MAX_DKIM_SIGNATURES) continue;
    kept.push(raw.subarray(from, to));
  }
  kept.push(raw.subarray(end));
  return Buffer.concat(kept);
}

/** The bounded head, then the rest of the message as it is read. */
async function* followedBy(head: Buffer, rest: Readable): AsyncGenerator<Buffer> {
  yield head;
  for await (const chunk of rest) yield chunk as Buffer;
}

/**
 * `rest`, when given, reads the message after `raw` (a spooled message, of which `raw` is the head).
 * It is read only when the header block ends within `raw`: otherwise more header fields would follow
 * past every bound, and a DKIM check of the head alone fails, as it should for such a message.
 */
export async function checkAuthentication(
  raw: Buffer,
  opts: { mailFrom: string; clientAddress?: string; clientHelo?: string; hostname: string; resolver: ResolveFn },
  rest?: () => Readable,
): Promise<AuthOutcome> {
  const bounded = boundedForAuthentication(raw);
  const headerEnds = rest !== undefined && (raw.indexOf('\n\n') >= 0 || raw.indexOf('\n\r\n') >= 0);
  const res = await authenticate(rest && headerEnds ? Readable.from(followedBy(bounded, rest())) : bounded, {
    sender: opts.mailFrom,
    ip: opts.clientAddress,
    helo: opts.clientHelo,
    // Without the client's address from the MTA, SPF stays unknown: a Received header is the sender's
    // own text (the MTA's pickup adds one without a client; the next one down says what it likes).
    trustReceived: false,
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
  // mailauth says why it skipped DMARC, except when there is no From: field at all.
  const skipReason = (res as { dmarcSkipReason?: string }).dmarcSkipReason ?? (res.dmarc || hasFromField(bounded) ? '' : 'no-author-domain');
  // A bounce (null sender) often has `From: MAILER-DAEMON` without a domain: that is no forgery, and
  // failing it would keep a bounce of the user's own mail from being delivered. Several From: fields
  // are suspect whatever the sender.
  const skipped = opts.mailFrom || skipReason.startsWith('multiple-') ? MALFORMED_FROM[skipReason] : undefined;
  const dmarc: AuthFacts['dmarc'] = res.dmarc
    ? { result: result(res.dmarc.status?.result), domain: res.dmarc.domain, policy: res.dmarc.policy || res.dmarc.p || undefined }
    : skipped
      ? // DMARC cannot be checked (RFC 7489 6.6.1): a second From: the reader may be shown, or none. Left
        // 'unknown', a forged whitelisted sender got past every "unless DMARC fails" guard by adding one.
        { result: 'fail', malformedFrom: skipped }
      : { result: 'unknown' };
  // mailauth fails DMARC whenever nothing aligned passed, a DNS timeout included. A check that could not
  // be made is not the domain disowning the message (policy rule 18): no fail while an aligned SPF or
  // DKIM check is a temperror.
  if (dmarc.result === 'fail' && dmarc.domain) {
    const from = dmarc.domain;
    const unknownAligned =
      (spf.result === 'temperror' && Boolean(spf.domain) && alignedDomains(spf.domain!, from)) ||
      dkim.some((d) => d.result === 'temperror' && alignedDomains(d.domain, from));
    if (unknownAligned) dmarc.result = 'temperror';
  }
  const arc = { result: res.arc ? result(res.arc.status?.result) : ('none' as AuthResult) };
  const clientKnown = Boolean(opts.clientAddress || (res.spf && res.spf['client-ip']));
  return {
    facts: { spf, dkim, dmarc, arc, clientKnown },
    headers: (res.headers ?? '').replace(/\r?\n/g, '\r\n'),
  };
}

const { parseReceived, getClientAddress } = createRequire(import.meta.url)('mailauth/lib/parse-received') as {
  parseReceived(line: string): { from?: { value?: string; comment?: string } };
  getClientAddress(from: unknown): string | false;
};

/**
 * For `crgate replay` and `eval` of stored mail: the client the operator's MTA recorded in the newest
 * Received header, when that header records one (a message submitted locally has none). Live mail
 * never takes this path: there the MTA forwards the client (XFORWARD), and a Received header below the
 * MTA's own is whatever the sender wrote.
 */
export function recordedClient(headers: ReadonlyMap<string, readonly string[]>): { clientAddress?: string; clientHelo?: string } {
  const newest = headers.get('received')?.[0];
  if (!newest) return {};
  const from = parseReceived(`Received: ${newest}`).from;
  const address = from ? getClientAddress(from) : false;
  return address ? { clientAddress: address, clientHelo: from?.value || undefined } : {};
}
