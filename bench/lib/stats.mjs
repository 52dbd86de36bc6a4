/** Small helpers: percentiles and a plain-text table. */

export function summarize(values) {
  if (values.length === 0) return { n: 0 };
  const sorted = Float64Array.from(values).sort();
  // Nearest rank. Rounded before ceil: 99.9 / 100 * 1000 is 999.0000000000001 in floating point, and
  // p99.9 of 1,000 values came out as the maximum.
  const rank = (p) => Math.ceil(Number(((p * sorted.length) / 100).toFixed(6)));
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, rank(p) - 1))];
  let sum = 0;
  for (const v of sorted) sum += v;
  return { n: sorted.length, mean: sum / sorted.length, p50: q(50), p90: q(90), p99: q(99), p999: q(99.9), max: sorted[sorted.length - 1] };
}

export function fmt(value, digits = 1) {
  if (value === undefined || value === null || Number.isNaN(value)) return '-';
  if (typeof value !== 'number') return String(value);
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** rows: arrays of cells; the first row is the header. */
export function table(rows) {
  const widths = rows[0].map((_c, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  const line = (r) => r.map((c, i) => (i === 0 ? String(c ?? '').padEnd(widths[i]) : String(c ?? '').padStart(widths[i]))).join('  ');
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows.slice(1)) out.push(r === null ? '' : line(r));
  return out.join('\n');
}
