/**
 * Helpers for measuring the filter on labelled mail (`crgate eval`, the corpus test): a deterministic
 * train/test split and the confusion table of truth against verdict. No I/O, no CLI.
 */
import { createHash } from 'node:crypto';
import type { Label, Verdict } from './model.js';

export interface EvaluationSplit<T> {
  train: T[];
  test: T[];
}

/** Rows are the truth, columns the verdict: `table.ham.spam` is the number of false positives. */
export type ConfusionTable = Record<Label, Record<Verdict, number>>;

// A salt of our own, so this split does not line up with any other split made by hashing the same
// files (the corpus itself was cut into development and evaluation parts by a hash).
const SPLIT_SALT = 'crgate-classifier-evaluation-split\0';

/**
 * Puts about `fraction` of the items in `test` and the rest in `train`, by a hash of each item's
 * stable key (e.g. the raw message): the same item always lands on the same side, whatever the order
 * or the company it comes in. With fraction 0.5, swapping `train` and `test` gives the second fold.
 */
export function splitForEvaluation<T>(
  items: readonly T[],
  fraction: number,
  keyOf: (item: T) => string | Uint8Array,
): EvaluationSplit<T> {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`fraction must be between 0 and 1, got ${fraction}`);
  const out: EvaluationSplit<T> = { train: [], test: [] };
  for (const item of items) {
    const digest = createHash('sha256').update(SPLIT_SALT).update(keyOf(item)).digest();
    // 48 bits of the hash as a number in [0, 1).
    const position = digest.readUIntBE(0, 6) / 2 ** 48;
    (position < fraction ? out.test : out.train).push(item);
  }
  return out;
}

/** Counts each (truth, verdict) pair. */
export function confusion(rows: Iterable<{ truth: Label; verdict: Verdict }>): ConfusionTable {
  const table: ConfusionTable = {
    ham: { ham: 0, unsure: 0, spam: 0 },
    spam: { ham: 0, unsure: 0, spam: 0 },
  };
  for (const { truth, verdict } of rows) table[truth][verdict]++;
  return table;
}

/** The table as aligned text, with each row's share in percent, for logs and terminals. */
export function formatConfusion(table: ConfusionTable): string {
  const verdicts: Verdict[] = ['ham', 'unsure', 'spam'];
  const cell = (n: number, total: number): string =>
    `${n} (${total ? ((100 * n) / total).toFixed(1) : '0.0'}%)`.padStart(15);
  const lines = [`${'truth \\ verdict'.padEnd(16)}${verdicts.map((v) => v.padStart(15)).join('')}${'total'.padStart(8)}`];
  for (const truth of ['ham', 'spam'] as const) {
    const row = table[truth];
    const total = row.ham + row.unsure + row.spam;
    lines.push(`${truth.padEnd(16)}${verdicts.map((v) => cell(row[v], total)).join('')}${String(total).padStart(8)}`);
  }
  return lines.join('\n');
}
