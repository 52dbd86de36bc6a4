/**
 * Tokens for a message's MIME structure: the content type and charset of every part, and its
 * attachments by type and file-name extension. SpamBayes found `content-type:text/html` alone to be
 * one of the strongest single clues, and charsets the cheapest way to notice a script the reader
 * does not read.
 *
 * Part headers are found by scanning the raw message rather than through the parser, which hands
 * back the text of all parts merged and forgets each part's own Content-Type and charset.
 */
import type { Attachment } from 'mailparser';
import { countBucket, type TokenBag } from './token-bag.js';

/** Part headers and attachments looked at per message: a message with thousands of parts is a clue by itself. */
export const MAX_PARTS = 50;

const CONTENT_TYPE_RE = /^content-type:[ \t]*([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)/gim;
// `=3D` is a quoted-printable `=`: an HTML <meta> charset inside a QP-encoded part, where a soft line
// break (`=` at the end of a line) may also cut the name in two ("windows-=\n1252").
const CHARSET_RE = /charset[ \t]*=(?:3d)?[ \t]*["']?([a-z0-9_.:()+-]{1,40}(?:=\r?\n[a-z0-9_.:()+-]{1,40})?)/gi;

/** Content types and charsets of all parts, from the raw message (as latin1, any line ends). */
export function addPartTokens(rawText: string, bag: TokenBag): void {
  let parts = 0;
  for (const m of rawText.matchAll(CONTENT_TYPE_RE)) {
    if (++parts > MAX_PARTS) break;
    bag.add(`content-type:${(m[1] ?? '').toLowerCase()}`);
  }
  bag.add(parts === 0 ? 'content-type:none' : `mime-parts:${countBucket(parts)}`);
  let charsets = 0;
  for (const m of rawText.matchAll(CHARSET_RE)) {
    if (++charsets > MAX_PARTS) break;
    bag.add(`charset:${(m[1] ?? '').replace(/=\r?\n/, '').toLowerCase()}`);
  }
}

/** Attachments: what they claim to be and what their names say they are. */
export function addAttachmentTokens(attachments: readonly Attachment[], bag: TokenBag): void {
  for (const a of attachments.slice(0, MAX_PARTS)) {
    bag.add(`attachment:type:${a.contentType.toLowerCase()}`);
    if (a.contentDisposition) bag.add(`content-disposition:${a.contentDisposition.toLowerCase()}`);
    if (a.filename) addFileNameTokens(a.filename, bag);
  }
}

/** `filename:ext:pdf` and `filename:name:invoice.pdf` (or with another prefix, for uuencoded files). */
export function addFileNameTokens(fileName: string, bag: TokenBag, prefix = 'filename:'): void {
  const name = fileName.toLowerCase().split(/[/\\:]/).pop()?.trim() ?? '';
  if (!name) return;
  bag.add(`${prefix}name:${name.length <= 40 ? name : `${name.slice(0, 20)}…`}`);
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1) : '';
  bag.add(ext && ext.length <= 8 ? `${prefix}ext:${ext}` : `${prefix}ext:none`);
}
