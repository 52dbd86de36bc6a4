import { describe, expect, it } from 'vitest';
import { chi2Q } from '../src/index.js';

// Reference values: the closed forms where there is one, otherwise scipy.stats.chi2.sf.
describe('chi2Q, the chi-square survival function for even degrees of freedom', () => {
  it('is e^(-x/2) with 2 degrees of freedom', () => {
    for (const x of [0.5, 1, 3, 10, 40]) expect(chi2Q(x, 2)).toBeCloseTo(Math.exp(-x / 2), 15);
  });

  it('is e^(-m)(1 + m) with 4 degrees of freedom: chi2Q(2, 4) = 2/e', () => {
    expect(chi2Q(2, 4)).toBeCloseTo(2 / Math.E, 15);
    expect(chi2Q(2, 4)).toBeCloseTo(0.7357588823428847, 15);
  });

  it('matches a table value: P(χ² ≥ 10 | 10 degrees of freedom) = 0.440493', () => {
    // e^-5 (1 + 5 + 25/2 + 125/6 + 625/24)
    expect(chi2Q(10, 10)).toBeCloseTo(0.44049328506521257, 14);
  });

  it('is 1 at 0 and never above 1, even where roundoff would push the sum past it', () => {
    expect(chi2Q(0, 8)).toBe(1);
    expect(chi2Q(100, 300)).toBeLessThanOrEqual(1);
    expect(chi2Q(100, 300)).toBeCloseTo(1, 12);
  });

  it('does not underflow to 0 when e^(-x/2) does but the sum is large (x = 1500, v = 1600)', () => {
    // e^-750 is 0 in doubles; the naive loop would answer 0 here.
    expect(chi2Q(1500, 1600)).toBeCloseTo(0.9636054908847439, 10);
  });

  it('still gives tiny tails their size past that point (x = 1600, v = 300)', () => {
    const q = chi2Q(1600, 300);
    expect(q / 4.299097512221621e-176).toBeCloseTo(1, 8);
  });

  it('refuses an odd number of degrees of freedom', () => {
    expect(() => chi2Q(1, 3)).toThrow(RangeError);
  });
});
