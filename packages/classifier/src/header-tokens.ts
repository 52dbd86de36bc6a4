/**
 * Tokens from the header lines that matter, after SpamBayes' tokenize_headers: the Subject's words,
 * who it claims to be from (From, Reply-To, Return-Path), how many it was sent to, the mail program,
 * the shape of the Message-ID, a little of the Received path, and which well-known headers are there
 * at all.
 *
 * Header mining is where a filter learns the accidents of how its training mail was collected
 * (SpamBayes' authors could classify their corpora on headers alone, for the wrong reasons), so it
 * is kept to a fixed list of fields and mostly to their shape, not their full text. Trusts nothing in
 * the headers: every value is just evidence.
 */
import type { AddressObject, EmailAddress, ParsedMail } from 'mailparser';
import { countBucket, type TokenBag } from './token-bag.js';
import { addWordTokens } from './word-tokens.js';

type HeaderLines = ParsedMail['headerLines'];

/**
 * Headers whose presence and count are tokens (`header:In-Reply-To:1`). SpamBayes' `safe_headers`,
 * plus Cc and References, which say the same kind of thing as To and In-Reply-To, minus Received:
 * the number of hops counts the relays of the receiving site and of mailing lists, not anything the
 * sender did. Headers added by the receiving side (X-Spam-*, Delivered-To, scanners' stamps) stay
 * out for the same reason: they describe the mailbox the training mail came from, not the mail.
 */
const COUNTED_HEADERS = new Set([
  'abuse-reports-to', 'cc', 'date', 'errors-to', 'from', 'importance', 'in-reply-to', 'message-id',
  'mime-version', 'organization', 'references', 'reply-to', 'return-path', 'subject', 'to',
  'user-agent', 'x-abuse-info', 'x-complaints-to', 'x-face',
]);
/** Subject characters looked at: past a screen line, a subject is a clue by its start alone. */
const MAX_SUBJECT_CHARS = 1000;
/** Received lines looked at, newest first; older hops are the easiest to forge. */
const MAX_RECEIVED = 8;

// SpamBayes' subject words: keep `$29.95` and `79%` whole, split `Python/Perl`.
const SUBJECT_WORD_RE = /[\p{L}\p{N}_$.%]+/gu;
const SUBJECT_PUNCT_RE = /[^\p{L}\p{N}_$.%\s]+/gu;
// A verdict an earlier filter wrote into the Subject ("[SPAM] …", "*****SPAM*****"): that filter's
// opinion, not the sender's words, and learning it would only teach us to echo it.
const VERDICT_TAG_RE = /^(?:\s*(?:[[{(*]+\s*(?:possible\s+)?spam\??\s*[\]})*]+|spam:))+\s*/i;
const ENCODED_WORD_CHARSET_RE = /=\?([^?*\s]+)(?:\*[^?]*)?\?[bq]\?/gi;
const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const RECEIVED_FROM_RE = /\bfrom\s+(\S+)(?:\s+\(([^)]*)\))?/i;
const BRACKETED_IP_RE = /\[(?:ipv6:)?(\d{1,3}(?:\.\d{1,3}){3})\]/i;
// Consumer access lines: the host name spells out the address, or says what kind of line it is.
const DYNAMIC_HOST_RE = /\d{1,3}[-.]\d{1,3}[-.]\d{1,3}[-.]\d{1,3}|dsl|dial|cable|ppp|pool|dyn|dhcp/;

/** Adds all header tokens of a parsed message. */
export function addHeaderTokens(mail: ParsedMail, bag: TokenBag): void {
  const lines = mail.headerLines;
  addSubjectTokens(mail.subject ?? '', rawHeader(lines, 'subject') ?? '', bag);
  const fromBase = addSenderTokens(mail, lines, bag);
  addRecipientTokens('to', mail.to, bag);
  addRecipientTokens('cc', mail.cc, bag);
  addMailerTokens(mail, bag);
  addMessageIdTokens(mail.messageId, fromBase, bag);
  addReceivedTokens(lines, bag);
  addHeaderNameTokens(lines, bag);
}

/** Subject words keep their case (SpamBayes: `FREE` and `free` say different things here). */
export function addSubjectTokens(subject: string, rawSubject: string, bag: TokenBag): void {
  for (const charset of encodedWordCharsets(rawSubject.slice(0, MAX_SUBJECT_CHARS))) bag.add(`subjectcharset:${charset}`);
  const text = subject.slice(0, MAX_SUBJECT_CHARS).replace(VERDICT_TAG_RE, '');
  if (!text.trim()) {
    bag.add('subject:none');
    return;
  }
  for (const [word] of text.matchAll(SUBJECT_WORD_RE)) addWordTokens(word, bag, 'subject:');
  for (const [run] of text.matchAll(SUBJECT_PUNCT_RE)) bag.add(`subject:${run.slice(0, 5)}`);
}

/** From, Reply-To and Return-Path; returns the From domain's base for the Message-ID comparison. */
function addSenderTokens(mail: ParsedMail, lines: HeaderLines, bag: TokenBag): string | undefined {
  const from = mailboxes(mail.from);
  if (from.length === 0) bag.add('from:none');
  for (const charset of encodedWordCharsets(rawHeader(lines, 'from') ?? '')) bag.add(`from:charset:${charset}`);
  for (const box of from.slice(0, 3)) {
    const address = (box.address ?? '').toLowerCase();
    if (address) {
      bag.add(`from:addr:${address}`);
      addDomainTokens('from:domain:', domainOf(address), bag);
    } else {
      bag.add('from:addr:none');
    }
    const name = box.name.toLowerCase().replace(/\s+/g, ' ').trim().slice(0, 40);
    bag.add(name ? `from:name:${name}` : 'from:no real name');
    // "service@bank.example" <x@elsewhere>: the name shows an address the mail is not from.
    if (name.includes('@')) bag.add('from:name-has-address');
  }
  const fromBase = from[0]?.address ? baseDomain(domainOf(from[0].address)) : undefined;

  const replyTo = mailboxes(mail.replyTo)[0]?.address;
  if (replyTo) {
    const base = baseDomain(domainOf(replyTo));
    bag.add(`reply-to:domain:${base}`);
    if (fromBase) bag.add(base === fromBase ? 'reply-to:same-domain' : 'reply-to:other-domain');
  }

  const returnPath = rawHeader(lines, 'return-path');
  if (returnPath === undefined) {
    bag.add('return-path:none');
  } else if (/<\s*>/.test(returnPath)) {
    bag.add('return-path:null');
  } else {
    const address = /([^<>\s]+@[^<>\s]+)/.exec(returnPath)?.[1];
    if (address) {
      const base = baseDomain(domainOf(address));
      bag.add(`return-path:domain:${base}`);
      if (fromBase) bag.add(base === fromBase ? 'return-path:same-domain' : 'return-path:other-domain');
    }
  }
  return fromBase;
}

/** How many it went to, as a power of two: the addresses themselves are the recipient's own. */
function addRecipientTokens(field: 'to' | 'cc', value: AddressObject | AddressObject[] | undefined, bag: TokenBag): void {
  if (value === undefined) {
    if (field === 'to') bag.add('to:none');
    return;
  }
  const count = mailboxes(value).length;
  bag.add(count === 0 ? `${field}:empty` : `${field}:${countBucket(count)}`);
}

/** X-Mailer and User-Agent, whole but with version numbers folded, so one release is not a new clue. */
function addMailerTokens(mail: ParsedMail, bag: TokenBag): void {
  let any = false;
  for (const field of ['x-mailer', 'user-agent']) {
    const value = headerString(mail, field);
    if (!value) continue;
    any = true;
    const shape = value.toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ').trim().slice(0, 40);
    bag.add(`${field}:${shape}`);
  }
  if (!any) bag.add('x-mailer:none');
}

/**
 * The Message-ID's domain and the shape of its left side (`D.X`, `H$H$H`): mail programs each have
 * their own recognisable pattern, and bulk tools their own.
 */
function addMessageIdTokens(messageId: string | undefined, fromBase: string | undefined, bag: TokenBag): void {
  if (!messageId) {
    bag.add('message-id:none');
    return;
  }
  const m = /^<?([^<>@\s]+)@([^<>@\s]+?)>?$/.exec(messageId.trim());
  if (!m) {
    bag.add('message-id:invalid');
    return;
  }
  const [, left = '', right = ''] = m;
  const domain = right.toLowerCase().replace(/^\[|\]$/g, '');
  if (IPV4_RE.test(domain)) bag.add('message-id:@ip');
  // A one-label host is either an unconfigured machine or a bulk tool's random word: the shape is the clue.
  else if (!domain.includes('.')) bag.add(domain === 'localhost' ? 'message-id:@localhost' : 'message-id:@nodots');
  else {
    const base = baseDomain(domain);
    bag.add(`message-id:@${base}`);
    if (fromBase) bag.add(base === fromBase ? 'message-id:from-domain' : 'message-id:other-domain');
  }
  bag.add(`message-id:shape:${idShape(left)}`);
}

/**
 * A little of the path the mail took, sparingly: the sending host's base domain and /16, and three
 * shapes that say "sent from a home line or a bot": a bare IP for a HELO name, no reverse DNS, a host
 * name that spells out its address. Private and loopback hops are the receiving site's own relays.
 */
function addReceivedTokens(lines: HeaderLines, bag: TokenBag): void {
  let seen = 0;
  for (const line of lines) {
    if (line.key !== 'received') continue;
    if (++seen > MAX_RECEIVED) break;
    const value = headerValue(line.line);
    if (/may be forged/i.test(value)) bag.add('received:may be forged');
    const m = RECEIVED_FROM_RE.exec(value);
    if (!m) continue;
    const helo = (m[1] ?? '').toLowerCase();
    const comment = (m[2] ?? '').toLowerCase().trim();
    const ip = BRACKETED_IP_RE.exec(comment)?.[1] ?? BRACKETED_IP_RE.exec(helo)?.[1] ?? (IPV4_RE.test(helo) ? helo : undefined);
    if (ip && isPrivateIp(ip)) continue;
    if (helo.startsWith('[') || IPV4_RE.test(helo)) bag.add('received:helo-ip');
    if (comment.startsWith('unknown')) bag.add('received:rdns-unknown');
    const rdns = comment.split(/[\s[]/)[0] ?? '';
    const host = [rdns, helo].find((h) => h.includes('.') && /^[a-z0-9.-]+$/.test(h) && !IPV4_RE.test(h));
    if (host) {
      bag.add(`received:${baseDomain(host)}`);
      if (DYNAMIC_HOST_RE.test(host)) bag.add('received:dynamic-host');
    }
    if (ip) bag.add(`received:ip:${ip.split('.').slice(0, 2).join('.')}`);
  }
}

/** `header:Name:count` for the counted headers; the name keeps its case (`SUBJECT:` is a clue). */
function addHeaderNameTokens(lines: HeaderLines, bag: TokenBag): void {
  const counts = new Map<string, number>();
  for (const { key, line } of lines) {
    if (!COUNTED_HEADERS.has(key)) continue;
    const name = line.slice(0, line.indexOf(':')).trim();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const [name, n] of counts) bag.add(`header:${name}:${n}`);
}

function mailboxes(value: AddressObject | AddressObject[] | undefined): EmailAddress[] {
  const out: EmailAddress[] = [];
  for (const header of value === undefined ? [] : Array.isArray(value) ? value : [value]) {
    for (const entry of header.value) {
      if (entry.group) out.push(...entry.group);
      else out.push(entry);
    }
  }
  return out;
}

function addDomainTokens(prefix: string, domain: string, bag: TokenBag): void {
  if (!domain) return;
  bag.add(prefix + domain);
  const base = baseDomain(domain);
  if (base !== domain) bag.add(prefix + base);
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase().replace(/\.$/, '');
}

/**
 * The organisation's domain, roughly: the last two labels, or three under a two-letter country code
 * with a short second level (`example.co.uk`). No public-suffix list: a wrong guess only makes a
 * token a little more or less specific.
 */
export function baseDomain(domain: string): string {
  const labels = domain.toLowerCase().split('.').filter(Boolean);
  if (labels.length <= 2) return labels.join('.');
  const tld = labels[labels.length - 1] ?? '';
  const second = labels[labels.length - 2] ?? '';
  const keep = tld.length === 2 && second.length <= 3 ? 3 : 2;
  return labels.slice(-keep).join('.');
}

/** `20020823142212.GA4105` → `D.X`: digits D, hex H, letters A, mixed X; punctuation kept. */
function idShape(left: string): string {
  const shape = left.toLowerCase().replace(/[a-z0-9]+/g, (run) =>
    /^\d+$/.test(run) ? 'D' : /^[a-z]+$/.test(run) ? 'A' : /^[0-9a-f]+$/.test(run) ? 'H' : 'X',
  );
  return shape.length <= 16 ? shape : `${shape.slice(0, 16)}…`;
}

function isPrivateIp(ip: string): boolean {
  const [a = 0, b = 0] = ip.split('.').map(Number);
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a === 0;
}

function encodedWordCharsets(raw: string): Set<string> {
  const out = new Set<string>();
  if (raw.includes('=?')) for (const m of raw.matchAll(ENCODED_WORD_CHARSET_RE)) out.add((m[1] ?? '').toLowerCase());
  return out;
}

/** The unparsed value of the first header line with this (lower-case) name, unfolded. */
function rawHeader(lines: HeaderLines, key: string): string | undefined {
  const line = lines.find((l) => l.key === key);
  return line ? headerValue(line.line) : undefined;
}

function headerValue(line: string): string {
  return line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
}

function headerString(mail: ParsedMail, key: string): string | undefined {
  const value = mail.headers.get(key);
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : undefined;
}
