/**
 * Tokens from the decoded text of a message body, the SpamBayes way: fold case, cut out uuencoded
 * blobs and URLs (each leaves its own summary tokens), drop HTML tags, then split on whitespace.
 * Splitting on whitespace rather than on "word characters" keeps `free!!` apart from `free`, which
 * SpamBayes measured to be worth the larger vocabulary.
 */
import { addFileNameTokens } from './mime-tokens.js';
import { addHtmlClues, decodeNumericEntities, htmlToText, MAX_HTML_CHARS } from './html-text.js';
import type { TokenBag } from './token-bag.js';
import { crackUrls } from './url-tokens.js';
import { addWordTokens } from './word-tokens.js';

/** Visible text examined per message, in characters; spam puts its pitch first, not 100 KB in. */
export const MAX_TEXT_CHARS = 100_000;

const UUENCODE_BEGIN_RE = /^begin[ \t]+([0-7]{3,4})[ \t]+(\S+)[ \t]*$/m;
const UUENCODE_END_RE = /^end[ \t]*$/m;

/** Adds the tokens of one body text; `html` text also yields HTML clues and has its markup removed. */
export function addBodyTokens(text: string, kind: 'plain' | 'html', bag: TokenBag): void {
  let t = decodeNumericEntities(text.slice(0, kind === 'html' ? MAX_HTML_CHARS : MAX_TEXT_CHARS)).toLowerCase();
  if (kind === 'html') addHtmlClues(t, bag);
  t = crackUuencode(t, bag);
  t = crackUrls(t, bag);
  // Plain text too: SpamBayes strips tags everywhere, so a message *about* HTML is not judged by it.
  if (t.includes('<') || t.includes('&')) t = htmlToText(t);
  if (t.length > MAX_TEXT_CHARS) t = t.slice(0, MAX_TEXT_CHARS);
  for (const word of t.split(/\s+/)) {
    if (!addWordTokens(word, bag)) return;
  }
}

/** Replaces uuencoded sections by their file name tokens: decoding them would tell us nothing. */
function crackUuencode(text: string, bag: TokenBag): string {
  if (!text.includes('begin ')) return text;
  let rest = text;
  let out = '';
  for (let i = 0; i < 10; i++) {
    const begin = UUENCODE_BEGIN_RE.exec(rest);
    if (!begin) break;
    bag.add(`uuencode mode:${begin[1]}`);
    addFileNameTokens(begin[2] ?? '', bag, 'uuencode:');
    out += rest.slice(0, begin.index);
    const after = rest.slice(begin.index + begin[0].length);
    const end = UUENCODE_END_RE.exec(after);
    // Without an `end` line the rest of the text is the blob.
    rest = end ? after.slice(end.index + end[0].length) : '';
  }
  return out + rest;
}
