/**
 * Reads the facts the decision needs from a raw message, once, without decoding bodies: the header
 * block is split and unfolded, encoded words decoded, From: parsed. The header block is capped so a
 * message with an absurd header cannot cost unbounded memory or time; the raw bytes are kept as they
 * came, so released mail is byte-identical.
 */
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser';
import { normalizeAddress, type MessageFacts } from '@crgate/core';

/** Header blocks larger than this are read only up to here (the rest of the message is kept intact). */
export const MAX_HEADER_BYTES = 1024 * 1024;
/** More fields than this are ignored for the decision. */
export const MAX_HEADER_FIELDS = 5000;

/**
 * Fields whose addresses are read: their values are also kept as they came, before encoded words are
 * decoded. A decoded display name may contain `,`, `<` and `@` (RFC 2047 allows any text in a phrase),
 * and parsed after decoding it would give an address the field does not name.
 */
const ADDRESS_FIELDS: ReadonlySet<string> = new Set(['from', 'to', 'cc', 'bcc', 'resent-from', 'resent-to', 'resent-cc', 'resent-bcc']);

/**
 * Fields kept as they came, never decoded: Received is a trace field (RFC 5321 section 4.4), where an
 * encoded word is only text, and the client chooses parts of it (the HELO name, the recipient). Decoded,
 * `EHLO =?us-ascii?q?with_ESMTPSA?=` read as our MTA saying the client had logged in.
 */
const UNDECODED_FIELDS: ReadonlySet<string> = new Set(['received']);

export interface ParsedHeaders {
  headers: Map<string, string[]>;
  /** The values of ADDRESS_FIELDS unfolded but not decoded, for address parsing. */
  addressFields: Map<string, string[]>;
  /** The field names (lower case) in the order they came: which Resent- fields form the newest block. */
  fieldNames: string[];
  /**
   * The first (newest) Received field's value as it came, its folding kept (lines joined by "\n",
   * continuation lines with their leading white space): what starts a line there was written by the
   * MTA, since a client cannot put a line break into the HELO name or recipient it writes.
   */
  newestReceived?: string;
  /** Byte offset where the body starts (after the blank line), or raw.length if there is none. */
  bodyOffset: number;
  truncated: boolean;
}

function findHeaderEnd(raw: Buffer, limit: number): { end: number; bodyOffset: number } | undefined {
  const max = Math.min(raw.length, limit);
  for (let i = 0; i < max; i++) {
    if (raw[i] !== 0x0a) continue;
    if (raw[i + 1] === 0x0a) return { end: i + 1, bodyOffset: i + 2 };
    if (raw[i + 1] === 0x0d && raw[i + 2] === 0x0a) return { end: i + 1, bodyOffset: i + 3 };
  }
  return undefined;
}

function decodeValue(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    // A malformed encoded word is shown as it came rather than failing the message.
    return value;
  }
}

export function parseHeaders(raw: Buffer): ParsedHeaders {
  let start = 0;
  // An mbox "From " line is not a header; some injectors leave it on.
  if (raw.subarray(0, 5).toString('latin1') === 'From ') {
    const nl = raw.indexOf(0x0a);
    start = nl < 0 ? raw.length : nl + 1;
  }
  // Some archived messages start with blank (or all-space) lines before the header; skip them.
  while (start < raw.length) {
    let i = start;
    while (i < raw.length && (raw[i] === 0x20 || raw[i] === 0x09 || raw[i] === 0x0d)) i++;
    if (raw[i] !== 0x0a) break;
    start = i + 1;
  }
  const found = findHeaderEnd(raw.subarray(start), MAX_HEADER_BYTES);
  const headerEnd = found ? start + found.end : Math.min(raw.length, start + MAX_HEADER_BYTES);
  const bodyOffset = found ? start + found.bodyOffset : raw.length;
  const block = raw.subarray(start, headerEnd).toString('utf8');
  const headers = new Map<string, string[]>();
  const addressFields = new Map<string, string[]>();
  const fieldNames: string[] = [];
  let newestReceived: string | undefined;
  let fields = 0;
  let current: { name: string; value: string; folded?: string } | undefined;
  const flush = () => {
    if (!current) return;
    fields++;
    fieldNames.push(current.name);
    const value = current.value.trim();
    if (current.folded !== undefined) newestReceived = current.folded.trim();
    const list = headers.get(current.name) ?? [];
    list.push(UNDECODED_FIELDS.has(current.name) ? value : decodeValue(value));
    headers.set(current.name, list);
    if (ADDRESS_FIELDS.has(current.name)) {
      const kept = addressFields.get(current.name) ?? [];
      kept.push(value);
      addressFields.set(current.name, kept);
    }
    current = undefined;
  };
  for (const line of block.split(/\r?\n/)) {
    if (fields >= MAX_HEADER_FIELDS) break;
    if ((line.startsWith(' ') || line.startsWith('\t')) && current) {
      current.value += ` ${line.trim()}`;
      if (current.folded !== undefined) current.folded += `\n${line}`;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1);
    // Only the first Received field keeps its folding (a later one starts after the first was flushed).
    current = name === 'received' && !headers.has('received') ? { name, value, folded: value } : { name, value };
  }
  flush();
  return { headers, addressFields, fieldNames, newestReceived, bodyOffset, truncated: !found && raw.length - start > MAX_HEADER_BYTES };
}

function firstAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  for (const entry of addressparser(value, { flatten: true })) {
    if ('address' in entry && entry.address && entry.address.includes('@')) return normalizeAddress(entry.address);
  }
  return undefined;
}

/** How much of the body is scanned for nested part types (reports hide inside multipart/mixed). */
export const MAX_STRUCTURE_SCAN_BYTES = 256 * 1024;

function mediaType(value: string | undefined): string | undefined {
  const m = value ? /^\s*([A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+)/.exec(value) : null;
  return m ? m[1]!.toLowerCase() : undefined;
}

/** The top-level media type, then those of the part headers found in the first bytes of the body. */
export function scanContentTypes(raw: Buffer, headers: Map<string, string[]>, bodyOffset: number): string[] {
  const types: string[] = [];
  const top = mediaType(headers.get('content-type')?.[0]);
  types.push(top ?? 'text/plain');
  if (!top?.startsWith('multipart/') && top !== 'message/rfc822') return types;
  const body = raw.subarray(bodyOffset, bodyOffset + MAX_STRUCTURE_SCAN_BYTES).toString('latin1');
  for (const m of body.matchAll(/^content-type:[ \t]*([A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+)/gim)) {
    const t = m[1]!.toLowerCase();
    if (!types.includes(t)) types.push(t);
    if (types.length >= 64) break;
  }
  return types;
}

const MESSAGE_ID = /<[^<>\s]+@[^<>\s]+>/g;

/**
 * In-Reply-To and References, then the Message-ID lines in the first bytes of the body: a bounce or
 * report carries the returned message's headers there.
 */
export function referencedMessageIds(raw: Buffer, headers: Map<string, string[]>, bodyOffset: number): string[] {
  const ids = new Set<string>();
  for (const name of ['in-reply-to', 'references']) {
    for (const value of headers.get(name) ?? []) for (const m of value.matchAll(MESSAGE_ID)) ids.add(m[0]);
  }
  const body = raw.subarray(bodyOffset, bodyOffset + MAX_STRUCTURE_SCAN_BYTES).toString('latin1');
  // The returned header may be quoted ("> "), indented, or folded with the id on the next line.
  for (const m of body.matchAll(/^(?:>\s?)?[ \t]*message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]+@[^<>\s]+>)/gim)) {
    ids.add(m[1]!);
    if (ids.size >= 100) break;
  }
  return [...ids];
}

export function allAddresses(values: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const value of values ?? []) {
    for (const entry of addressparser(value, { flatten: true })) {
      if ('address' in entry && entry.address && entry.address.includes('@')) out.push(normalizeAddress(entry.address));
    }
  }
  return out;
}

/**
 * The Date: field as a date, when it is one PostgreSQL (4713 BC to 294276 AD) and every reader can
 * hold: JavaScript reads `-005000-01-01T00:00:00Z` as a date, and storing it failed the message with a
 * 4xx on every retry. Years 1 to 9999 only.
 */
export function headerDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  const year = date.getUTCFullYear();
  return Number.isNaN(date.getTime()) || year < 1 || year > 9999 ? undefined : date;
}

export interface ParsedMessage {
  facts: MessageFacts;
  /** ParsedHeaders.newestReceived: whether our MTA says the client logged in. */
  newestReceived?: string;
  bodyOffset: number;
}

export function parseMessage(
  raw: Buffer,
  envelope: { mailFrom: string; clientAddress?: string; clientHelo?: string },
): ParsedMessage {
  const { headers, addressFields, newestReceived, bodyOffset } = parseHeaders(raw);
  const one = (name: string) => headers.get(name)?.[0];
  const messageId = one('message-id')?.match(/<[^<>\s]+>/)?.[0];
  const recipientHeaders = ['to', 'cc', 'resent-to', 'resent-cc'].flatMap((h) => addressFields.get(h) ?? []);
  return {
    bodyOffset,
    newestReceived,
    facts: {
      mailFrom: envelope.mailFrom ? normalizeAddress(envelope.mailFrom) : '',
      mailFromOriginal: envelope.mailFrom ? envelope.mailFrom.trim().toLowerCase() : '',
      headerRecipients: allAddresses(recipientHeaders),
      contentTypes: scanContentTypes(raw, headers, bodyOffset),
      referencedMessageIds: referencedMessageIds(raw, headers, bodyOffset),
      clientAddress: envelope.clientAddress,
      clientHelo: envelope.clientHelo,
      fromAddress: firstAddress(addressFields.get('from')?.[0]),
      fromAddresses: allAddresses(addressFields.get('from')),
      subject: one('subject'),
      messageId,
      date: headerDate(one('date')),
      headers,
    },
  };
}
