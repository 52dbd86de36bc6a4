/**
 * The operator overview (`/admin`): for users with the admin flag, what crgate decided for everybody
 * over the last 30 days (per day) or 48 hours (per hour) — a chart, the same numbers as a table, the
 * challenge confirmation rate and the top reasons. Anyone else gets the site's 404 page: the route
 * does not say that it exists. The counts come from the store's stats: `decisionSeries`, and the
 * reason and challenge counts that `decisionStats` (`crgate stats`) is made of.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import { challengeCounts, decisionSeries, reasonCounts, seriesPeriod, type DecisionSeries, type SeriesStep } from '@crgate/store';
import { bucketLabel, legendSwatch, renderChart, SERIES } from './overview-chart.js';
import { isInformative, reasonPhrase } from './reason-phrases.js';
import { page, query, requireUser, signedIn, type SiteDeps } from './site-context.js';

const RANGES: Record<string, { step: SeriesStep; count: number; label: string }> = {
  '30d': { step: 'day', count: 30, label: 'Last 30 days' },
  '48h': { step: 'hour', count: 48, label: 'Last 48 hours' },
};

const TOP_REASONS = 10;

/** Confirmed of the challenges sent in the period (created in it and sent: confirmed, expired or still open). */
export function confirmationRate(challenges: Record<string, number>): { confirmed: number; sent: number; rate?: number } {
  const confirmed = challenges.confirmed ?? 0;
  const sent = confirmed + (challenges.sent ?? 0) + (challenges.expired ?? 0);
  return { confirmed, sent, ...(sent > 0 ? { rate: confirmed / sent } : {}) };
}

function percent(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0)}%`;
}

function totals(series: DecisionSeries) {
  return SERIES.map((s) => ({ ...s, total: series.buckets.reduce((sum, b) => sum + b[s.key], 0) }));
}

export function overviewRoutes(deps: SiteDeps): Router {
  const router = Router();
  const adminOnly = (_req: Request, res: Response, next: NextFunction) => {
    if (signedIn(res)?.session.isAdmin) return next();
    res.status(404).send(page(deps, res, 'error', { title: 'Not found', heading: 'Not found', message: 'There is no page here.' }));
  };
  router.use('/admin', requireUser(deps), adminOnly);

  router.get('/admin', async (req, res) => {
    const rangeKey = query(req, 'range') === '48h' ? '48h' : '30d';
    const range = RANGES[rangeKey]!;
    // The scans of the period side by side; the totals per decision are the sums of the buckets.
    const now = deps.now();
    const { since } = seriesPeriod(range.step, range.count, now);
    const [series, reasonsSince, challengesSince] = await Promise.all([
      decisionSeries(deps.db, range.step, range.count, now),
      reasonCounts(deps.db, since),
      challengeCounts(deps.db, since),
    ]);
    const sums = totals(series);
    const rate = confirmationRate(challengesSince);
    const reasons = Object.entries(reasonsSince)
      .filter(([symbol]) => !isInformative(symbol))
      .slice(0, TOP_REASONS)
      .map(([symbol, count]) => ({ symbol, count: count.toLocaleString('en-US'), phrase: reasonPhrase(symbol) }));
    const copies = sums.filter((s) => s.key !== 'confirmed').reduce((a, s) => a + s.total, 0);
    const summary =
      `${copies.toLocaleString('en-US')} copies decided in the ${range.label.toLowerCase()}: ` +
      sums.map((s) => `${s.total.toLocaleString('en-US')} ${s.label.toLowerCase()}`).join(', ') +
      (rate.rate === undefined ? '; no challenge sent.' : `; ${percent(rate.rate)} of the challenges sent were confirmed.`);
    res.send(
      page(deps, res, 'overview', {
        title: 'Overview',
        section: 'overview',
        wide: true,
        ranges: Object.entries(RANGES).map(([key, r]) => ({ key, label: r.label, current: key === rangeKey })),
        rangeLabel: range.label,
        stepWord: range.step === 'day' ? 'Day' : 'Hour',
        stepLower: range.step,
        rangeLower: range.label.toLowerCase(),
        chart: renderChart(series, { titleId: 'chart-title', descId: 'chart-summary' }),
        legend: SERIES.map((s) => ({ label: s.label, swatch: legendSwatch(s) })),
        summary,
        copies: copies.toLocaleString('en-US'),
        totals: sums.map((s) => ({ label: s.label, key: s.key, total: s.total.toLocaleString('en-US') })),
        rows: series.buckets.map((b) => ({ label: bucketLabel(b.start, range.step), values: SERIES.map((s) => b[s.key].toLocaleString('en-US')) })),
        columns: SERIES.map((s) => s.label),
        rate: rate.rate === undefined ? undefined : percent(rate.rate),
        rateConfirmed: rate.confirmed.toLocaleString('en-US'),
        rateSent: rate.sent.toLocaleString('en-US'),
        challenges: Object.entries(challengesSince).map(([status, n]) => ({ status, count: n.toLocaleString('en-US') })),
        reasons,
        since: series.since.toISOString().slice(0, 16).replace('T', ' '),
      }),
    );
  });

  return router;
}
