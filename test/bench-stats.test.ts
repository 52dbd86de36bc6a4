/**
 * The arithmetic of `npm run bench`'s figures (bench/lib/stats.mjs): nearest-rank percentiles.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JavaScript module of the bench, without types
import { summarize } from '../bench/lib/stats.mjs';

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => n - i);

describe('bench percentiles', () => {
  it('gives the nearest-rank p99.9, not the maximum, when the count is a multiple of 1,000', () => {
    for (const n of [1000, 2000, 3000, 10_000]) expect(summarize(oneTo(n)).p999, String(n)).toBe(n * 0.999);
  });

  it('sorts numerically and gives p50 and p99 by nearest rank', () => {
    expect(summarize([10, 9, 100, 2])).toMatchObject({ n: 4, p50: 9, p99: 100, max: 100 });
    expect(summarize(oneTo(200))).toMatchObject({ p50: 100, p90: 180, p99: 198 });
  });
});
