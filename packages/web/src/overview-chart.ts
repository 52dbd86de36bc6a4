/**
 * The operator overview's chart: decisions and confirmations per day or hour as a line chart in inline
 * SVG, drawn here on the server. It needs no script, so it shows with JavaScript off and under the
 * site's CSP (`default-src 'none'`: inline SVG markup is not a resource, and styling is by attributes).
 * Each series has its own colour, dash pattern and marker, so it is told apart without colour too;
 * the page shows the same numbers in a table, which is what a screen reader reads.
 */
import type { DecisionSeries, SeriesBucket } from '@crgate/store';

export type SeriesKey = Exclude<keyof SeriesBucket, 'start'>;

export interface SeriesStyle {
  key: SeriesKey;
  label: string;
  /** At least 3:1 against white (WCAG 1.4.11), and distinct from one another. */
  color: string;
  dash: string;
  marker: 'circle' | 'square' | 'triangle' | 'diamond' | 'cross';
}

export const SERIES: readonly SeriesStyle[] = [
  { key: 'deliver', label: 'Delivered', color: '#1b7a3a', dash: '', marker: 'circle' },
  { key: 'challenge', label: 'Challenged', color: '#1b4d8c', dash: '8 4', marker: 'square' },
  { key: 'confirmed', label: 'Confirmed', color: '#6b3fa0', dash: '2 3', marker: 'diamond' },
  { key: 'quarantine', label: 'Quarantined', color: '#9a5200', dash: '12 4 2 4', marker: 'triangle' },
  { key: 'discard', label: 'Discarded', color: '#a11d1d', dash: '4 2', marker: 'cross' },
];

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A round step for the y axis giving about `ticks` intervals up to at least `max`. */
export function niceStep(max: number, ticks = 4): number {
  if (max <= ticks) return 1;
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw)!;
  return Number.isInteger(step) ? step : Math.ceil(step);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Nov 20" for a day, "Nov 20 14:00" for an hour (UTC). */
export function bucketLabel(start: Date, step: DecisionSeries['step']): string {
  const day = `${MONTHS[start.getUTCMonth()]} ${start.getUTCDate()}`;
  return step === 'day' ? day : `${day} ${String(start.getUTCHours()).padStart(2, '0')}:00`;
}

function marker(kind: SeriesStyle['marker'], x: number, y: number, color: string): string {
  const r = 3.5;
  switch (kind) {
    case 'circle':
      return `<circle cx="${x}" cy="${y}" r="${r}" fill="${color}"/>`;
    case 'square':
      return `<rect x="${x - r}" y="${y - r}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
    case 'diamond':
      return `<path d="M${x} ${y - r - 1}L${x + r + 1} ${y}L${x} ${y + r + 1}L${x - r - 1} ${y}Z" fill="${color}"/>`;
    case 'triangle':
      return `<path d="M${x} ${y - r - 1}L${x + r + 1} ${y + r}L${x - r - 1} ${y + r}Z" fill="${color}"/>`;
    case 'cross':
      return `<path d="M${x - r} ${y - r}L${x + r} ${y + r}M${x + r} ${y - r}L${x - r} ${y + r}" stroke="${color}" stroke-width="2"/>`;
  }
}

/** A small legend swatch (line and marker) for the HTML legend beside the chart. */
export function legendSwatch(s: SeriesStyle): string {
  return (
    `<svg width="36" height="14" viewBox="0 0 36 14" aria-hidden="true" focusable="false">` +
    `<line x1="2" y1="7" x2="34" y2="7" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>` +
    marker(s.marker, 18, 7, s.color) +
    `</svg>`
  );
}

/**
 * The chart as an `<svg role="img">` element, labelled by `titleId` (a heading on the page) and
 * described by `descId` (the summary in words). Hovering a day shows its numbers (an SVG `<title>`).
 */
export function renderChart(series: DecisionSeries, opts: { titleId: string; descId: string }): string {
  const W = 960;
  const H = 320;
  const left = 56;
  const right = 36;
  const top = 16;
  const bottom = 44;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const n = series.buckets.length;
  const max = Math.max(1, ...series.buckets.flatMap((b) => SERIES.map((s) => b[s.key])));
  const step = niceStep(max);
  const yMax = Math.ceil(max / step) * step;
  const xAt = (i: number) => Math.round((left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1))) * 10) / 10;
  const yAt = (v: number) => Math.round((top + plotH - (v / yMax) * plotH) * 10) / 10;
  const out: string[] = [];
  out.push(
    `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${esc(opts.titleId)}" aria-describedby="${esc(opts.descId)}" ` +
      `font-family="system-ui, sans-serif" font-size="12">`,
  );
  // Grid and y axis.
  for (let v = 0; v <= yMax; v += step) {
    const y = yAt(v);
    out.push(`<line x1="${left}" y1="${y}" x2="${W - right}" y2="${y}" stroke="${v === 0 ? '#555' : '#ddd'}" stroke-width="1"/>`);
    out.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end" fill="#333">${v.toLocaleString('en-US')}</text>`);
  }
  // x labels: about eight of them, on whole days (or every sixth hour).
  const every = series.step === 'day' ? Math.max(1, Math.ceil(n / 8)) : 6;
  series.buckets.forEach((b, i) => {
    const fromEnd = n - 1 - i;
    if (fromEnd % every !== 0) return;
    const x = xAt(i);
    out.push(`<line x1="${x}" y1="${top + plotH}" x2="${x}" y2="${top + plotH + 5}" stroke="#555"/>`);
    const label = series.step === 'day' ? bucketLabel(b.start, 'day') : `${String(b.start.getUTCHours()).padStart(2, '0')}:00`;
    out.push(`<text x="${x}" y="${top + plotH + 19}" text-anchor="middle" fill="#333">${esc(label)}</text>`);
    if (series.step === 'hour' && (b.start.getUTCHours() < every || i === 0)) {
      out.push(`<text x="${x}" y="${top + plotH + 34}" text-anchor="middle" fill="#333">${esc(bucketLabel(b.start, 'day'))}</text>`);
    }
  });
  // One line per series, with its markers.
  for (const s of SERIES) {
    const points = series.buckets.map((b, i) => `${xAt(i)},${yAt(b[s.key])}`).join(' ');
    out.push(
      `<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2.5" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
    out.push(`<g>${series.buckets.map((b, i) => marker(s.marker, xAt(i), yAt(b[s.key]), s.color)).join('')}</g>`);
  }
  // Hover targets: one column per bucket with its numbers.
  const colW = n === 1 ? plotW : plotW / (n - 1);
  series.buckets.forEach((b, i) => {
    const text = `${bucketLabel(b.start, series.step)}: ${SERIES.map((s) => `${b[s.key].toLocaleString('en-US')} ${s.label.toLowerCase()}`).join(', ')}`;
    out.push(
      `<rect x="${Math.round((xAt(i) - colW / 2) * 10) / 10}" y="${top}" width="${Math.round(colW * 10) / 10}" height="${plotH}" fill="none" pointer-events="all"><title>${esc(text)}</title></rect>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}
