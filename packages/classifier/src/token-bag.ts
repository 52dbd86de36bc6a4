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

export class TokenBag {
  private readonly seen = new Set<string>();

  constructor(private readonly cap: number = MAX_TOKENS_PER_MESSAGE) {}

  /** Adds a token; returns false once the bag is full, so loops over long text can stop early. */
  add(token: string): boolean {
    if (this.seen.size >= this.cap) return false;
    // A NUL is no part of a word, and the token store (PostgreSQL text) cannot hold one.
    this.seen.add(token.includes('\0') ? token.replaceAll('\0', '') : token);
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
