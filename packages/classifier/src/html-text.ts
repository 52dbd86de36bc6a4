/**
 * Cheap HTML-to-text for the tokenizer: a few regular expressions instead of a DOM. A filter does not
 * need the layout, only the words a reader would see, and a real converter is the most expensive
 * step of parsing mail (mailparser's tests carry crafted HTML that once froze it).
 *
 * Expects lower-cased input. Tags are removed without leaving a space, so `FR<!-- x -->EE` and
 * `V<b></b>iagra` read as one word again, as SpamBayes does; tags that make a browser break the
 * line (p, br, div, table cells…) become a space, since they cannot hide a word anyway.
 */
import { countBucket, type TokenBag } from './token-bag.js';

/** HTML examined per message, in characters; the rest of a longer HTML body is ignored. */
export const MAX_HTML_CHARS = 200_000;

const SCRIPT_OR_IFRAME_RE = /<\/?\s*(script|iframe)\b/;
const CID_SRC_RE = /\bsrc\s*=\s*['"]?cid:/;
const ZERO_SIZE_RE = /\b(?:height|width)\s*=\s*['"]?0\b/;
const IMG_RE = /<img\b/g;
const BREAKING_TAG_RE =
  /<\/?(?:p|br|div|td|th|tr|li|ul|ol|dd|dt|table|tbody|thead|h[1-6]|hr|blockquote|title|center|pre|form)\b[^>]{0,128}>|&nbsp;/g;
// SpamBayes' "probably a tag": not `a < b`, not `<<<`, and never more than 128 characters to the `>`.
const TAG_RE = /<[^\s<>][^>]{0,128}>/g;
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
  let text = stripBlock(html, /<\s*style\b[^>]{0,256}>/g, '</style>');
  text = stripBlock(text, /<\s*script\b[^>]{0,256}>/g, '</script>');
  text = stripBlock(text, /<!--/g, '-->');
  text = stripBlock(text, /<\s*noframes\s*>/g, '</noframes>');
  text = text.replace(BREAKING_TAG_RE, ' ').replace(TAG_RE, '');
  return text.includes('&') ? text.replace(NAMED_ENTITY_RE, (m, name: string) => ENTITIES[name] ?? m) : text;
}

/** `&#65;` and `&#x41;`: spam spells words this way to slip past word lists. */
export function decodeNumericEntities(text: string): string {
  if (!text.includes('&#')) return text;
  return text.replace(/&#(x[0-9a-fA-F]{1,6}|\d{1,7});?/g, (m, code: string) => {
    const cp = code[0] === 'x' || code[0] === 'X' ? parseInt(code.slice(1), 16) : parseInt(code, 10);
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : ' ';
  });
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
