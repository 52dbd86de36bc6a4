/**
 * How one "word" becomes tokens, SpamBayes' rules: words of 3 to 12 characters are kept as they are;
 * shorter ones carry too little (and no lower bound hurt SpamBayes' false-negative rate); longer ones
 * are mostly base64 debris, tracking ids and glued-together HTML, so they become a summary token
 * `skip:<first char> <length rounded down to 10>` — which SpamBayes found helps catch spam without
 * costing ham — except e-mail addresses, which are worth keeping as two halves.
 */
import type { TokenBag } from './token-bag.js';

/** Shortest word kept as itself. */
export const MIN_WORD_LENGTH = 3;
/** Longest word kept as itself (SpamBayes' skip_max_word_size). */
export const MAX_WORD_LENGTH = 12;

/**
 * Adds the tokens for one word, each with `prefix` (e.g. `subject:`). Returns false when the bag is
 * full.
 */
export function addWordTokens(word: string, bag: TokenBag, prefix = ''): boolean {
  const n = word.length;
  if (n < MIN_WORD_LENGTH) return true;
  if (n <= MAX_WORD_LENGTH) return bag.add(prefix + word);

  const at = word.indexOf('@');
  // An address is long but not noise; split it rather than summarise it away.
  if (n < 40 && at > 0 && at === word.lastIndexOf('@') && word.includes('.')) {
    return bag.add(`${prefix}email name:${word.slice(0, at)}`) && bag.add(`${prefix}email addr:${word.slice(at + 1)}`);
  }

  if (!bag.add(`${prefix}skip:${word[0]} ${Math.floor(n / 10) * 10}`)) return false;
  let high = 0;
  for (let i = 0; i < n; i++) if (word.charCodeAt(i) >= 128) high++;
  // The share of non-ASCII characters says "another script" without one token per unsplittable run.
  return high === 0 || bag.add(`${prefix}8bit%:${Math.round((high * 100) / n)}`);
}
