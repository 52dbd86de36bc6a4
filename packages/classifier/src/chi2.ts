/**
 * The chi-square survival function for an even number of degrees of freedom, as SpamBayes' chi2.py
 * computes it: for v = 2k, P(χ² ≥ x2) = e^(−m) · Σ_{i<k} m^i / i!  with m = x2 / 2 — a finite sum, no
 * special functions needed. Fisher's method turns n probabilities into a χ² statistic with 2n degrees
 * of freedom, which is why only even v ever occurs.
 */

/**
 * P(χ² ≥ x2) with v degrees of freedom; v must be a positive even integer.
 *
 * Underflow care: for m past ~700, e^(−m) is 0 in doubles, and SpamBayes' loop would return 0 even
 * when the later terms m^i/i! are large enough to make the true answer close to 1 (many clues, large
 * statistic). There the terms are summed in log space instead, each one exponentiated on its own.
 * And like SpamBayes, the result is clamped to 1: roundoff can push the sum a few ulps above it.
 */
export function chi2Q(x2: number, v: number): number {
  if (!Number.isInteger(v) || v <= 0 || v % 2 !== 0) throw new RangeError(`chi2Q needs an even number of degrees of freedom, got ${v}`);
  if (Number.isNaN(x2)) return Number.NaN;
  if (x2 <= 0) return 1;
  if (x2 === Infinity) return 0;
  const m = x2 / 2;
  const k = v / 2;
  let sum: number;
  if (m < 700) {
    let term = Math.exp(-m);
    sum = term;
    for (let i = 1; i < k; i++) {
      term *= m / i;
      sum += term;
    }
  } else {
    const logM = Math.log(m);
    let logTerm = -m;
    sum = 0;
    for (let i = 1; i < k; i++) {
      logTerm += logM - Math.log(i);
      sum += Math.exp(logTerm);
    }
  }
  return Math.min(sum, 1);
}
