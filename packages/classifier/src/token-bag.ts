/**
 * The distinct tokens of one message, in the order first seen, with a hard cap.
 *
 * A message counts a token once (SpamBayes found that counting repeats hurts under Robinson's
 * scheme), and the cap bounds both the tokenizer's work and the size of the store lookup: a message
 * built to emit a million distinct words costs the same as an ordinary one. Headers are tokenized
 * first, so when the cap bites it is the tail of a long body that is dropped.
 */

/** Upper bound on the distinct tokens kept per message. */
export const MAX_TOKENS_PER_MESSAGE = 3000;

/**
 * Upper bound on a token's length, in UTF-16 units. Most tokens are words cut to 12 letters, but some
 * carry a header value whole (a folded Content-Type, an address), and PostgreSQL cannot index a
 * token row over about 2,700 bytes: one such message failed every training batch it was in.
 */
export const MAX_TOKEN_LENGTH = 200;

/**
 * A token as the token store can hold it and find again: cut to MAX_TOKEN_LENGTH, without NULs (no
 * part of a word; PostgreSQL text cannot hold one), and without a lone surrogate (half an emoji cut by
 * a slice): the database driver turns one into U+FFFD, so the stored token would never match the one
 * classified, and two tokens differing only there would collide in one upsert.
 */
export function storableToken(token: string): string {
  let t = token.length > MAX_TOKEN_LENGTH ? `${token.slice(0, MAX_TOKEN_LENGTH)}…` : token;
  if (t.includes('\0')) t = t.replaceAll('\0', '');
  return t.isWellFormed() ? t : t.toWellFormed();
}

export class TokenBag {
  private readonly seen = new Set<string>();

  constructor(private readonly cap: number = MAX_TOKENS_PER_MESSAGE) {}

  /** Adds a token; returns false once the bag is full, so loops over long text can stop early. */
  add(token: string): boolean {
    if (this.seen.size >= this.cap) return false;
    this.seen.add(storableToken(token));
    return true;
  }

  get full(): boolean {
    return this.seen.size >= this.cap;
  }

  get size(): number {
    return this.seen.size;
  }

  toArray(): string[] {
    return [...this.seen];
  }
}

/**
 * A count as a token suffix, in powers of two as SpamBayes buckets them (1, 2, 4, 8…): the exact
 * number of recipients or images is rarely seen twice; its order of magnitude is.
 */
export function countBucket(count: number): string {
  return `2**${Math.round(Math.log2(Math.max(1, count)))}`;
}
