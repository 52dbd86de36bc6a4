import { describe, expect, it } from 'vitest';
import { confusion, formatConfusion, splitForEvaluation } from '../src/index.js';

const items = Array.from({ length: 1000 }, (_, i) => `message ${i}`);

describe('splitForEvaluation', () => {
  it('puts every item on exactly one side, about `fraction` of them in test', () => {
    const { train, test } = splitForEvaluation(items, 0.3, (s) => s);
    expect([...train, ...test].sort()).toEqual([...items].sort());
    expect(test.length).toBeGreaterThan(250);
    expect(test.length).toBeLessThan(350);
  });

  it('puts an item on the same side whatever order and company it comes in', () => {
    const first = splitForEvaluation(items, 0.5, (s) => s);
    const reversed = splitForEvaluation([...items].reverse().slice(0, 400), 0.5, (s) => s);
    const inTest = new Set(first.test);
    for (const item of reversed.test) expect(inTest.has(item)).toBe(true);
    for (const item of reversed.train) expect(inTest.has(item)).toBe(false);
  });

  it('hashes raw message bytes as well as strings', () => {
    const raw = items.map((s) => Buffer.from(s));
    const byBytes = splitForEvaluation(raw, 0.5, (b) => b).test.map((b) => b.toString());
    expect(byBytes).toEqual(splitForEvaluation(items, 0.5, (s) => s).test);
  });

  it('puts everything in train at fraction 0 and everything in test at fraction 1', () => {
    expect(splitForEvaluation(items, 0, (s) => s).test).toEqual([]);
    expect(splitForEvaluation(items, 1, (s) => s).train).toEqual([]);
  });

  it('refuses a fraction outside 0…1', () => {
    expect(() => splitForEvaluation(items, 1.5, (s) => s)).toThrow(RangeError);
  });
});

describe('confusion', () => {
  it('counts each pair of truth and verdict', () => {
    const table = confusion([
      { truth: 'ham', verdict: 'ham' },
      { truth: 'ham', verdict: 'ham' },
      { truth: 'ham', verdict: 'unsure' },
      { truth: 'spam', verdict: 'spam' },
      { truth: 'spam', verdict: 'ham' },
    ]);
    expect(table).toEqual({ ham: { ham: 2, unsure: 1, spam: 0 }, spam: { ham: 1, unsure: 0, spam: 1 } });
  });

  it('prints one row per truth with each cell’s share of the row', () => {
    const text = formatConfusion({ ham: { ham: 3, unsure: 1, spam: 0 }, spam: { ham: 0, unsure: 0, spam: 2 } });
    expect(text).toMatch(/^ham\s+3 \(75\.0%\)\s+1 \(25\.0%\)\s+0 \(0\.0%\)\s+4$/m);
    expect(text).toMatch(/^spam\s+0 \(0\.0%\)\s+0 \(0\.0%\)\s+2 \(100\.0%\)\s+2$/m);
  });
});
