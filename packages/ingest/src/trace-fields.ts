/**
 * Header fields the sender wrote in crgate's name, taken out of mail before it reaches the mailbox:
 * `X-Crgate-Decision`, and `Authentication-Results` whose authserv-id is ours (RFC 8601 section 5:
 * such fields from outside SHOULD be removed). crgate prepends its own; a forged `dkim=pass` under our
 * name would otherwise sit right below it, for a Sieve script or a mail client to believe. Everything
 * else, other hosts' Authentication-Results included, is delivered byte for byte.
 */
import type { MessagePart } from './downstream.js';

/**
 * Where the header fields in `head` end: just past the blank line; or, when `head` holds none (a message
 * of header fields only, or a header block longer than `head`), past its last whole line, so that
 * padding the header block cannot hide a forged field. Behind Postfix a header block never exceeds
 * header_size_limit (100 KB by default); fields past a spooled message's 2 MiB head are not looked at.
 */
function headerBlockEnd(head: Buffer): number {
  for (let i = 0; i < head.length; ) {
    if (head[i] === 0x0a) return i + 1;
    if (head[i] === 0x0d && head[i + 1] === 0x0a) return i + 2;
    const nl = head.indexOf(0x0a, i);
    if (nl < 0) return i;
    i = nl + 1;
  }
  return head.length;
}

/** The authserv-id of an Authentication-Results value: the text before the first `;`, comments dropped. */
function authservId(value: string): string {
  return (value.split(';', 1)[0] ?? '')
    .replace(/\([^)]*\)/g, ' ')
    .trim()
    .split(/\s+/, 1)[0]!
    .toLowerCase();
}

/** Byte ranges [start, end) of the header fields to take out of `head`'s header block. */
export function claimedTraceFields(head: Buffer, ourAuthservId: string): Array<[number, number]> {
  const end = headerBlockEnd(head);
  const text = head.subarray(0, end).toString('latin1');
  // Cheap way out for the usual message, which carries neither field name.
  const lower = text.toLowerCase();
  if (!lower.includes('x-crgate-decision') && !lower.includes('authentication-results')) return [];
  const ours = ourAuthservId.toLowerCase();
  const ranges: Array<[number, number]> = [];
  let fieldStart = -1;
  let field = '';
  const close = (at: number) => {
    if (fieldStart < 0) return;
    const colon = field.indexOf(':');
    const name = field.slice(0, colon < 0 ? 0 : colon).trim().toLowerCase();
    if (name === 'x-crgate-decision' || (name === 'authentication-results' && authservId(field.slice(colon + 1)) === ours)) {
      ranges.push([fieldStart, at]);
    }
  };
  let i = 0;
  while (i < end) {
    const nl = text.indexOf('\n', i);
    const next = nl < 0 ? end : nl + 1;
    const line = text.slice(i, next);
    if (line === '\r\n' || line === '\n') break;
    if (line[0] === ' ' || line[0] === '\t') field += line;
    else {
      close(i);
      fieldStart = i;
      field = line;
    }
    i = next;
  }
  close(i);
  return ranges;
}

/**
 * The original message as parts to deliver, without the fields claimedTraceFields finds. `head` is its
 * beginning (all of it, or a spooled message's head); `from(offset)` gives the message from that
 * byte on. A message with no such field is `from(0)`, untouched.
 */
export function withoutClaimedTraceFields(head: Buffer, from: (offset: number) => MessagePart, ourAuthservId: string): MessagePart[] {
  const ranges = claimedTraceFields(head, ourAuthservId);
  if (ranges.length === 0) return [from(0)];
  const parts: MessagePart[] = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) parts.push(head.subarray(at, start));
    at = end;
  }
  parts.push(from(at));
  return parts;
}
