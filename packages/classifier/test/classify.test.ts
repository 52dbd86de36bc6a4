import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  classify,
  classifyMessage,
  combineProbabilities,
  DEFAULT_CLASSIFIER_OPTIONS,
  MAX_DISCRIMINATORS,
  MemoryTokenStore,
  tokenize,
  tokenProbability,
  verdictFor,
  type ModelTotals,
  type TokenCounts,
  type TokenStore,
} from '../src/index.js';

const TRAINED: ModelTotals = { nham: 100, nspam: 100 };
// Seen in every spam and no ham: Robinson's f = (0.45·0.5 + 100) / (0.45 + 100).
const SPAMMY: TokenCounts = { ham: 0, spam: 100 };
const P_SPAMMY = (0.225 + 100) / 100.45;

function countsOf(entries: Array<[string, TokenCounts]>): Map<string, TokenCounts> {
  return new Map(entries);
}

describe("Robinson's token probability", () => {
  it('pulls a token seen once, in spam only, towards 0.5: (0.45·0.5 + 1) / 1.45', () => {
    expect(tokenProbability({ ham: 0, spam: 1 }, { nham: 1, nspam: 1 })).toBeCloseTo(0.8448275862068966, 15);
  });

  it('compares shares, not counts: a token in 10% of ham and 10% of spam is neutral whatever the corpus sizes', () => {
    expect(tokenProbability({ ham: 100, spam: 5 }, { nham: 1000, nspam: 50 })).toBeCloseTo(0.5, 15);
  });

  it('grows surer the more often a token was seen', () => {
    const once = tokenProbability({ ham: 0, spam: 1 }, TRAINED);
    const often = tokenProbability(SPAMMY, TRAINED);
    expect(often).toBeGreaterThan(once);
    expect(often).toBeCloseTo(P_SPAMMY, 15);
  });
});

describe('chi-square combining', () => {
  it('gives a single clue’s own probability: S = 1 − (1 − p), H = 1 − p, score = p', () => {
    expect(combineProbabilities([0.9])).toBeCloseTo(0.9, 15);
    expect(combineProbabilities([0.2])).toBeCloseTo(0.2, 15);
  });

  it('matches a hand computation for two clues of 0.9', () => {
    // S = 1 − 0.01(1 − ln 0.01) = 0.94394830, H = 1 − 0.81(1 − ln 0.81) = 0.01931596
    expect(combineProbabilities([0.9, 0.9])).toBeCloseTo(0.9623161667528989, 12);
  });

  it('scores near 1 when every clue is 0.99, and near 0 when every clue is 0.01', () => {
    expect(combineProbabilities(Array(20).fill(0.99))).toBeGreaterThan(0.9999);
    expect(combineProbabilities(Array(20).fill(0.01))).toBeLessThan(0.0001);
  });

  it('scores exactly in the middle when strong clues pull equally both ways', () => {
    expect(combineProbabilities([...Array(10).fill(0.99), ...Array(10).fill(0.01)])).toBeCloseTo(0.5, 12);
  });

  it('scores 0.5 without any clue', () => {
    expect(combineProbabilities([])).toBe(0.5);
  });
});

describe('verdicts from the two cut-offs', () => {
  it('is ham below hamCutoff, spam at or above spamCutoff, unsure between', () => {
    expect(verdictFor(0.1999, DEFAULT_CLASSIFIER_OPTIONS)).toBe('ham');
    expect(verdictFor(0.2, DEFAULT_CLASSIFIER_OPTIONS)).toBe('unsure');
    expect(verdictFor(0.8999, DEFAULT_CLASSIFIER_OPTIONS)).toBe('unsure');
    expect(verdictFor(0.9, DEFAULT_CLASSIFIER_OPTIONS)).toBe('spam');
  });
});

describe('classify', () => {
  it('is unsure at 0.5 before any training', () => {
    expect(classify(['cheap', 'pills'], { nham: 0, nspam: 0 }, new Map())).toEqual({ score: 0.5, verdict: 'unsure', spamClues: [], hamClues: [] });
  });

  it('is unsure at 0.5 while the model has seen only one kind of mail', () => {
    const c = classify(['cheap'], { nham: 5, nspam: 0 }, countsOf([['cheap', { ham: 5, spam: 0 }]]));
    expect(c).toMatchObject({ score: 0.5, verdict: 'unsure' });
  });

  it('is unsure at 0.5 when no token of the message was ever seen', () => {
    expect(classify(['never', 'seen'], TRAINED, new Map())).toMatchObject({ score: 0.5, verdict: 'unsure' });
  });

  it('ignores tokens within 0.1 of 0.5: one strong clue among many weak ones scores as that clue alone', () => {
    const weak: TokenCounts = { ham: 100, spam: 70 }; // f ≈ 0.412
    const tokens = ['strong', ...Array.from({ length: 50 }, (_, i) => `weak${i}`)];
    const counts = countsOf([['strong', SPAMMY], ...tokens.slice(1).map((t): [string, TokenCounts] => [t, weak])]);
    expect(classify(tokens, TRAINED, counts).score).toBeCloseTo(P_SPAMMY, 12);
  });

  it(`judges on the ${MAX_DISCRIMINATORS} strongest clues and drops the rest`, () => {
    const spam = Array.from({ length: MAX_DISCRIMINATORS }, (_, i) => `s${i}`);
    const ham = Array.from({ length: 50 }, (_, i) => `h${i}`);
    const counts = countsOf([
      ...spam.map((t): [string, TokenCounts] => [t, SPAMMY]),
      ...ham.map((t): [string, TokenCounts] => [t, { ham: 100, spam: 25 }]), // f ≈ 0.2, weaker
    ]);
    const c = classify([...ham, ...spam], TRAINED, counts);
    expect(c.score).toBe(combineProbabilities(Array(MAX_DISCRIMINATORS).fill(tokenProbability(SPAMMY, TRAINED))));
    expect(c.hamClues).toEqual([]);
  });

  it('reports the five strongest clues each way, strongest first', () => {
    const counts = countsOf([
      ...[1, 2, 3, 4, 5, 6, 7].map((n): [string, TokenCounts] => [`spam${n}`, { ham: 0, spam: n }]),
      ...[1, 2, 3, 4, 5, 6, 7].map((n): [string, TokenCounts] => [`ham${n}`, { ham: n, spam: 0 }]),
    ]);
    const c = classify([...counts.keys()], TRAINED, counts);
    expect(c.spamClues.map((x) => x.token)).toEqual(['spam7', 'spam6', 'spam5', 'spam4', 'spam3']);
    expect(c.hamClues.map((x) => x.token)).toEqual(['ham7', 'ham6', 'ham5', 'ham4', 'ham3']);
    expect(c.spamClues[0]?.prob).toBeGreaterThan(c.spamClues[1]?.prob ?? 1);
  });

  it('gives the same score whatever the order of the tokens, and counts a repeated token once', () => {
    const counts = countsOf([
      ['a', SPAMMY],
      ['b', { ham: 30, spam: 2 }],
      ['c', { ham: 1, spam: 9 }],
    ]);
    const one = classify(['a', 'b', 'c'], TRAINED, counts);
    expect(classify(['c', 'b', 'a', 'a', 'c'], TRAINED, counts)).toEqual(one);
  });

  it('uses the caller’s cut-offs', () => {
    const counts = countsOf([['x', { ham: 0, spam: 1 }]]); // f ≈ 0.845
    expect(classify(['x'], TRAINED, counts).verdict).toBe('unsure');
    expect(classify(['x'], TRAINED, counts, { hamCutoff: 0.2, spamCutoff: 0.8 }).verdict).toBe('spam');
  });
});

describe('classifyMessage', () => {
  const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url));

  it('reads the model of the given scopes with one totals and one counts call', async () => {
    const inner = new MemoryTokenStore();
    const calls: string[] = [];
    const store: TokenStore = {
      totals: (scopes) => (calls.push(`totals ${scopes.join(',')}`), inner.totals(scopes)),
      counts: (scopes, tokens) => (calls.push(`counts ${scopes.join(',')}`), inner.counts(scopes, tokens)),
      train: (...args) => inner.train(...args),
      untrain: (...args) => inner.untrain(...args),
    };
    await classifyMessage(await fixture('mbox-crlf-spam.eml'), store, [0, 7]);
    expect(calls.sort()).toEqual(['counts 0,7', 'totals 0,7']);
  });

  it('calls spam what looks like the spam it was trained on, and ham what looks like the ham', async () => {
    const store = new MemoryTokenStore();
    const ham = await fixture('quoted-printable-signed-ham.eml');
    const spam = await fixture('attachment-spam.eml');
    await store.train(0, 'ham', await tokenize(ham), 'ham', 1);
    await store.train(0, 'spam', await tokenize(spam), 'spam', 1);
    expect((await classifyMessage(spam, store, [0])).verdict).toBe('spam');
    expect((await classifyMessage(ham, store, [0])).verdict).toBe('ham');
  });
});
