/**
 * URLs in body text: each becomes tokens for its scheme, its host and the host's parents down to
 * the top-level domain (`url:www.example.com`, `url:example.com`, `url:com`), a few path pieces, and
 * shape clues (a bare IP, a user@ part, a port, %-escapes) — then is cut out of the text, so its
 * pieces do not also turn up as `skip:h 40` word debris.
 *
 * Expects lower-cased text. The URL pattern is SpamBayes': it may sit in HTML, in quotes or in
 * angle brackets, and ends at the first space, quote, bracket or non-ASCII character.
 */
import type { TokenBag } from './token-bag.js';

/** URLs per message that are tokenized; the rest are still cut out of the text. */
export const MAX_URLS_PER_MESSAGE = 50;
/** Path pieces per URL that are tokenized: the first few name the site's scheme, the rest are ids. */
const MAX_PATH_PIECES = 8;
const MAX_PATH_PIECE_LENGTH = 24;

const URL_RE = /(https?|ftp):\/\/([^\s<>"'\u007f-\uffff]+)/g;
// SpamBayes' separators inside a path component.
const URL_SEP_RE = /[;?:@&=+,$.]/;
const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const TRAILING_PUNCT_RE = /[.:?!/),;]+$/;

/** Tokenizes the URLs in `text` and returns the text with each URL replaced by a space. */
export function crackUrls(text: string, bag: TokenBag): string {
  if (!text.includes('://')) return text;
  let seen = 0;
  return text.replace(URL_RE, (_match, proto: string, guts: string) => {
    if (seen++ < MAX_URLS_PER_MESSAGE && !bag.full) addUrlTokens(proto, guts, bag);
    return ' ';
  });
}

function addUrlTokens(proto: string, guts: string, bag: TokenBag): void {
  bag.add(`proto:${proto}`);
  // Casual embedding: "see http://example.org/here." or "(http://example.org/)". Past 1,000
  // characters a URL is all tracking data.
  guts = guts.slice(0, 1000).replace(TRAILING_PUNCT_RE, '');
  if (!guts) return;
  if (/%[0-9a-f]{2}/.test(guts)) bag.add('url:%-escaped');

  const pathStart = guts.search(/[/?#]/);
  let authority = pathStart < 0 ? guts : guts.slice(0, pathStart);
  const path = pathStart < 0 ? '' : guts.slice(pathStart);

  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    // http://www.bank.example@198.51.100.7/ — the part before @ is what the reader sees.
    bag.add('url:userinfo');
    authority = authority.slice(at + 1);
  }
  const colon = authority.indexOf(':');
  if (colon >= 0) {
    bag.add('url:port');
    authority = authority.slice(0, colon);
  }
  addHostTokens(authority.replace(/\.$/, ''), bag);

  let pieces = 0;
  for (const segment of path.split(/[/?#]/)) {
    for (const piece of segment.split(URL_SEP_RE)) {
      if (!piece) continue;
      if (pieces++ >= MAX_PATH_PIECES) return;
      bag.add(piece.length <= MAX_PATH_PIECE_LENGTH ? `url-path:${piece}` : 'url-path:long');
    }
  }
}

function addHostTokens(host: string, bag: TokenBag): void {
  if (!host) return;
  if (IPV4_RE.test(host)) {
    bag.add('url:ip');
    return;
  }
  const labels = host.split('.').filter(Boolean);
  // The last four levels only: deeper labels are per-campaign or per-recipient, never seen twice.
  const deepest = Math.max(0, labels.length - 4);
  for (let i = deepest; i < labels.length; i++) bag.add(`url:${labels.slice(i).join('.')}`);
}
