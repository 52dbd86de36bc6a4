/**
 * Cheap HTML-to-text for the tokenizer: a few scans and regular expressions instead of a DOM. A
 * filter does not need the layout, only the words a reader would see, and a real converter is the
 * most expensive step of parsing mail (mailparser's tests carry crafted HTML that once froze it).
 *
 * Expects lower-cased input. Tags are removed without leaving a space, so `FR<!-- x -->EE` and
 * `V<b></b>iagra` read as one word again, as SpamBayes does; tags that make a browser break the
 * line (p, br, div, table cells…) become a space, since they cannot hide a word anyway.
 */
import { countBucket, type TokenBag } from './token-bag.js';

/** HTML examined per message, in characters; the rest of a longer HTML body is ignored. */
export const MAX_HTML_CHARS = 100_000;

const SCRIPT_OR_IFRAME_RE = /<\/?\s*(script|iframe)\b/;
const CID_SRC_RE = /\bsrc\s*=\s*['"]?cid:/;
const ZERO_SIZE_RE = /\b(?:height|width)\s*=\s*['"]?0\b/;
const IMG_RE = /<img\b/g;
const BREAKING_TAG_RE = /^\/?(?:p|br|div|td|th|tr|li|ul|ol|dd|dt|table|tbody|thead|h[1-6]|hr|blockquote|title|center|pre|form)(?![a-z0-9])/;
/** SpamBayes' "probably a tag": at most this many characters between `<x` and `>`. */
const MAX_TAG_LENGTH = 128;
const NAMED_ENTITY_RE = /&([a-z]{2,8});/g;

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™',
  hellip: '…', mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', bull: '•',
  middot: '·', euro: '€', pound: '£', cent: '¢', yen: '¥', eacute: 'é', egrave: 'è', agrave: 'à',
  ccedil: 'ç', uuml: 'ü', ouml: 'ö', auml: 'ä', szlig: 'ß',
};

/**
 * Tokens for HTML constructs that say more than the words: script and iframes, images pulled from
 * the message itself (`src=cid:`), invisible 0-sized elements (web bugs), and how image-heavy it is.
 */
export function addHtmlClues(html: string, bag: TokenBag): void {
  const tag = SCRIPT_OR_IFRAME_RE.exec(html);
  if (tag) bag.add(`html:${tag[1]}`);
  if (CID_SRC_RE.test(html)) bag.add('html:src=cid');
  if (ZERO_SIZE_RE.test(html)) bag.add('html:zero-size');
  const images = html.match(IMG_RE)?.length ?? 0;
  if (images > 0) bag.add(`html:img:${countBucket(images)}`);
}

/** The visible text of lower-cased HTML (or of plain text that contains stray tags). */
export function htmlToText(html: string): string {
  let text = html;
  // The includes() tests skip a regular expression run over text that cannot match it.
  if (text.includes('style')) text = stripBlock(text, /<\s*style\b[^>]{0,256}>/g, '</style>');
  if (text.includes('script')) text = stripBlock(text, /<\s*script\b[^>]{0,256}>/g, '</script>');
  if (text.includes('<!--')) text = stripBlock(text, /<!--/g, '-->');
  if (text.includes('noframes')) text = stripBlock(text, /<\s*noframes\s*>/g, '</noframes>');
  text = stripTags(text);
  return text.includes('&') ? text.replace(NAMED_ENTITY_RE, (m, name: string) => ENTITIES[name] ?? m) : text;
}

/**
 * Removes what is probably a tag — SpamBayes' rule: `<`, then a character that is not a space, `<`
 * or `>`, then at most 128 characters up to the first `>` — so `a < b` and `<<<` survive. A scan
 * rather than SpamBayes' regular expression, which retries 128 characters at every `<` of a body made
 * of `<a<a<a…` with no `>` at all; here the next `>` is looked up once and reused, so the work stays
 * linear in the text.
 */
function stripTags(text: string): string {
  let i = text.indexOf('<');
  if (i < 0) return text;
  const parts: string[] = [];
  let from = 0;
  let gt = -1;
  while (i >= 0 && i + 1 < text.length) {
    const c = text[i + 1] ?? '';
    if (c !== '<' && c !== '>' && !/\s/.test(c)) {
      if (gt < i + 1) {
        gt = text.indexOf('>', i + 1);
        if (gt < 0) break; // no `>` anywhere after this: no more tags
      }
      if (gt - i - 2 <= MAX_TAG_LENGTH) {
        // Browsers break the line at these, so they cannot hide a word inside: they become a space.
        parts.push(text.slice(from, i), BREAKING_TAG_RE.test(text.slice(i + 1, Math.min(gt, i + 13))) ? ' ' : '');
        from = gt + 1;
        i = text.indexOf('<', from);
        continue;
      }
    }
    i = text.indexOf('<', i + 1);
  }
  parts.push(text.slice(from));
  return parts.join('');
}

/** `&#65;` and `&#x41;`: spam spells words this way to slip past word lists. */
export function decodeNumericEntities(text: string): string {
  let i = text.indexOf('&#');
  if (i < 0) return text;
  // A loop rather than replace() with a callback: a body of nothing but entities is a known trick,
  // and the callback costs several times more per entity.
  const parts: string[] = [];
  let from = 0;
  while (i >= 0) {
    const hex = text[i + 2] === 'x' || text[i + 2] === 'X';
    let j = i + (hex ? 3 : 2);
    let cp = 0;
    const start = j;
    for (; j < text.length && j - start < (hex ? 6 : 7); j++) {
      const d = hex ? parseInt(text[j] ?? '', 16) : (text.charCodeAt(j) - 48);
      if (!(d >= 0 && d < (hex ? 16 : 10))) break;
      cp = cp * (hex ? 16 : 10) + d;
    }
    if (j > start) {
      parts.push(text.slice(from, i), cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : ' ');
      from = text[j] === ';' ? j + 1 : j;
    }
    i = text.indexOf('&#', Math.max(i + 2, from));
  }
  parts.push(text.slice(from));
  return parts.join('');
}

/**
 * Removes each `open … close` section. An opener without a closer is left alone, as if it were not a
 * tag, so an unclosed `<style>` cannot swallow the rest of the message. Linear: indexOf, no
 * backtracking over the body.
 */
function stripBlock(text: string, open: RegExp, close: string): string {
  open.lastIndex = 0;
  let match = open.exec(text);
  if (!match) return text;
  let out = '';
  let from = 0;
  while (match) {
    const end = text.indexOf(close, match.index + match[0].length);
    if (end < 0) break;
    out += text.slice(from, match.index);
    from = end + close.length;
    open.lastIndex = from;
    match = open.exec(text);
  }
  return out + text.slice(from);
}
