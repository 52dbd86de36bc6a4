/**
 * Turns one raw message into the distinct tokens the statistical filter counts, in the tradition of
 * SpamBayes' tokenizer: header clues first (header-tokens.ts), then the MIME structure
 * (mime-tokens.ts), then the words and URLs of the decoded text (body-tokens.ts).
 *
 * Accepts what real mailboxes hold: an mbox `From ` envelope line before the headers, CRLF or LF line
 * ends, broken MIME. Bounded: only the first MAX_MESSAGE_BYTES are parsed, text and HTML are capped
 * (body-tokens.ts, html-text.ts) and so is the number of tokens (token-bag.ts), so no message costs
 * more than a few milliseconds. Never throws: a message the parser rejects is tokenized from its raw
 * text instead, with a `control:parse-error` token saying so.
 */
import { simpleParser, type ParsedMail } from 'mailparser';
import { addBodyTokens } from './body-tokens.js';
import { addHeaderTokens, addSubjectTokens } from './header-tokens.js';
import { addAttachmentTokens, addPartTokens } from './mime-tokens.js';
import { TokenBag } from './token-bag.js';

/** Bytes of a message that are parsed; beyond this are attachments, not evidence worth the time. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/**
 * Largest header block parsed whole (real ones stay under 30 KB even with DKIM and ARC). The parser's
 * cost grows with the number of header lines, so a longer block keeps its first 16 KB (the newest
 * trace) and its last 48 KB (where the sender's own From, Subject and Content-Type usually are).
 */
export const MAX_HEADER_BYTES = 64 * 1024;

const PARSER_OPTIONS = {
  // HTML-to-text is the expensive part of parsing; html-text.ts does a cheap version of it.
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  // Otherwise every cid: image is inlined into the HTML as a data: URL, only for us to cut it out.
  keepCidLinks: true,
  checksumAlgo: false,
  maxChildNodes: 200,
} as const;

/**
 * The longest the parser may take. Fuzzing found inputs on which mailparser's promise never settles;
 * the ingest waits for these tokens before it answers the MTA, so a stuck parse must not stall it.
 */
export const PARSE_TIMEOUT_MS = 2000;

class ParseTimeout extends Error {}

function parseWithTimeout(message: Buffer): Promise<ParsedMail> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ParseTimeout()), PARSE_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([simpleParser(message, PARSER_OPTIONS), timeout]).finally(() => clearTimeout(timer));
}

/** The message's distinct tokens, header tokens first. */
export async function tokenize(raw: Buffer): Promise<string[]> {
  const bounded = boundHeaderBlock(withoutMboxEnvelope(raw.subarray(0, MAX_MESSAGE_BYTES)));
  const message = withHeaderEnd(bounded.message);
  const trimmed = bounded.trimmed;
  const bag = new TokenBag();
  if (trimmed) bag.add('header:oversized');
  let mail: ParsedMail | undefined;
  try {
    mail = await parseWithTimeout(message);
  } catch (err) {
    // A parser error is a fact about the message, and the raw text still has its words.
    if (err instanceof ParseTimeout) bag.add('control:parse-timeout');
    mail = undefined;
  }
  const rawText = message.toString('latin1');
  if (mail) {
    try {
      addHeaderTokens(mail, bag);
      addPartTokens(rawText, bag);
      addAttachmentTokens(mail.attachments, bag);
      addParsedBodyTokens(mail, bag);
      return bag.toArray();
    } catch {
      // A shape of parsed message this code did not foresee: the ingest must still get an answer,
      // so keep what was collected and go on as if the parser had failed.
      bag.add('control:tokenizer-error');
    }
  } else {
    bag.add('control:parse-error');
  }
  addPartTokens(rawText, bag);
  addRawTextTokens(message.toString('utf8'), bag);
  return bag.toArray();
}

/**
 * SpamBayes' rule for multipart/alternative: when there is a plain-text version, its HTML twin is
 * redundant, and HTML decoration would only make newcomers' mail look like spam.
 */
function addParsedBodyTokens(mail: ParsedMail, bag: TokenBag): void {
  if (mail.text) addBodyTokens(mail.text, 'plain', bag);
  else if (mail.html) addBodyTokens(mail.html, 'html', bag);
  else bag.add('text:none');
}

/** Tokens from a message the parser gave up on: its Subject line and everything after the headers. */
function addRawTextTokens(text: string, bag: TokenBag): void {
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  const body = split ? text.slice(split.index + split[0].length) : '';
  const subject = /^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(head)?.[1] ?? '';
  addSubjectTokens(subject.replace(/\r?\n[ \t]+/g, ' '), subject, bag);
  addBodyTokens(body, /<html|<body|<p>|<br/i.test(body) ? 'html' : 'plain', bag);
}

function boundHeaderBlock(raw: Buffer): { message: Buffer; trimmed: boolean } {
  if (raw.length <= MAX_HEADER_BYTES) return { message: raw, trimmed: false };
  const ends = [raw.indexOf('\n\n'), raw.indexOf('\n\r\n')].filter((i) => i >= 0);
  const end = ends.length ? Math.min(...ends) : raw.length;
  if (end <= MAX_HEADER_BYTES) return { message: raw, trimmed: false };
  const headEnd = fieldStart(raw, 16 * 1024, -1);
  // Never past the blank line: the body must stay a body.
  const tailStart = Math.min(fieldStart(raw, end - 48 * 1024, 1), end);
  return { message: Buffer.concat([raw.subarray(0, headEnd), raw.subarray(Math.max(headEnd, tailStart))]), trimmed: true };
}

/** The start of a header field (a line not folded into the one before) at or near `from`, searching in `step` direction. */
function fieldStart(raw: Buffer, from: number, step: 1 | -1): number {
  for (let i = from; i > 0 && i < raw.length; i += step) {
    const c = raw[i];
    if (raw[i - 1] === 10 && c !== 32 && c !== 9) return i;
  }
  return step < 0 ? 0 : raw.length;
}

/**
 * Ends the message with a blank line. mailparser (3.14) can wait for more input forever on a message
 * whose last line leaves it inside a header block (of the message or of a MIME part): fuzzing found
 * truncated messages whose parse never settled, each then costing the full PARSE_TIMEOUT_MS
 * (test/fixtures/fuzz-regressions/). A trailing empty line adds no token and changes no text.
 */
function withHeaderEnd(message: Buffer): Buffer {
  const n = message.length;
  if (n >= 2 && message[n - 1] === 10 && (message[n - 2] === 10 || (message[n - 2] === 13 && n >= 3 && message[n - 3] === 10))) return message;
  const endsWithNewline = n > 0 && message[n - 1] === 10;
  return Buffer.concat([message, Buffer.from(endsWithNewline ? '\r\n' : '\r\n\r\n')]);
}

/** mbox files put a `From sender date` envelope line before the headers; it is not part of the message. */
function withoutMboxEnvelope(raw: Buffer): Buffer {
  if (raw.length < 5 || raw.toString('latin1', 0, 5) !== 'From ') return raw;
  const eol = raw.indexOf(10);
  return eol < 0 ? raw : raw.subarray(eol + 1);
}
