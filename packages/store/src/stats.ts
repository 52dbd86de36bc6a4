/** Counts for operators: decisions and reasons over a period, and the state of the outbox and copies. */
import type { Queryable } from './db.js';

/**
 * Added to every period condition on copies: copies are partitioned by their message's `received_at`
 * (migration 009), and a condition on it lets PostgreSQL read only the months of the period. A copy is
 * made when its message is received, so the day of margin never leaves one out.
 */
const IN_RECEIVED_MONTHS = `received_at >= $1::timestamptz - interval '1 day'`;

export interface DecisionStats {
  since: Date;
  decisions: Record<string, number>;
  reasons: Record<string, number>;
  challenges: Record<string, number>;
}

export async function decisionStats(db: Queryable, since: Date): Promise<DecisionStats> {
  const [decisions, reasons, challenges] = await Promise.all([
    db.query<{ decision: string; n: number }>(
      `SELECT decision, count(*)::int AS n FROM message_recipients WHERE created_at >= $1 AND ${IN_RECEIVED_MONTHS} GROUP BY decision ORDER BY decision`,
      [since],
    ),
    reasonCounts(db, since),
    challengeCounts(db, since),
  ]);
  return { since, decisions: Object.fromEntries(decisions.rows.map((r) => [r.decision, r.n])), reasons, challenges };
}

/**
 * How many copies were given each reason symbol since then, most frequent first. A symbol given twice
 * to one copy (both external scorers voting spam) counts that copy once.
 */
export async function reasonCounts(db: Queryable, since: Date): Promise<Record<string, number>> {
  const { rows } = await db.query<{ symbol: string; n: number }>(
    `SELECT s.symbol, count(*)::int AS n
       FROM message_recipients mr, LATERAL (SELECT DISTINCT r->>'symbol' AS symbol FROM jsonb_array_elements(mr.reasons) AS r) AS s
      WHERE mr.created_at >= $1 AND mr.${IN_RECEIVED_MONTHS} GROUP BY 1 ORDER BY 2 DESC, 1`,
    [since],
  );
  return Object.fromEntries(rows.map((r) => [r.symbol, r.n]));
}

/** Challenges created since then, by their status now. */
export async function challengeCounts(db: Queryable, since: Date): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM challenges WHERE created_at >= $1 GROUP BY status ORDER BY status',
    [since],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export type SeriesStep = 'day' | 'hour';

export interface SeriesBucket {
  /** Start of the day or hour (UTC). */
  start: Date;
  /** Copies per decision made in it (one per recipient of each message). */
  deliver: number;
  challenge: number;
  quarantine: number;
  discard: number;
  /** Challenges confirmed in it (by when the sender confirmed, not when the mail came). */
  confirmed: number;
}

export interface DecisionSeries {
  step: SeriesStep;
  since: Date;
  /** End of the last bucket (exclusive): the end of the current day or hour. */
  until: Date;
  buckets: SeriesBucket[];
}

const STEP_MS: Record<SeriesStep, number> = { day: 86_400_000, hour: 3_600_000 };

function bucketCount(count: number): number {
  return Math.min(Math.max(Math.floor(count), 1), 1000);
}

/** The period decisionSeries covers: `count` whole UTC days or hours, the current one last. */
export function seriesPeriod(step: SeriesStep, count: number, now: Date): { since: Date; until: Date } {
  const ms = STEP_MS[step];
  const until = new Date((Math.floor(now.getTime() / ms) + 1) * ms);
  return { since: new Date(until.getTime() - bucketCount(count) * ms), until };
}
const SERIES_DECISIONS = ['deliver', 'challenge', 'quarantine', 'discard'] as const;

/**
 * Decisions and confirmations per UTC day or hour over the last `count` of them, the current one
 * included; a bucket without mail is there with zeros. Two grouped scans of the period: copies by
 * `created_at` and confirmed challenges by `confirmed_at` (both indexed, migration 008).
 */
export async function decisionSeries(db: Queryable, step: SeriesStep, count: number, now: Date): Promise<DecisionSeries> {
  const ms = STEP_MS[step];
  const n = bucketCount(count);
  const { since, until } = seriesPeriod(step, n, now);
  const seconds = ms / 1000;
  const [decisions, confirmed] = await Promise.all([
    db.query<{ i: number; decision: string; n: number }>(
      `SELECT floor(extract(epoch FROM created_at - $1::timestamptz) / $3)::int AS i, decision, count(*)::int AS n
         FROM message_recipients WHERE created_at >= $1 AND created_at < $2 AND ${IN_RECEIVED_MONTHS} GROUP BY 1, 2`,
      [since, until, seconds],
    ),
    db.query<{ i: number; n: number }>(
      `SELECT floor(extract(epoch FROM confirmed_at - $1::timestamptz) / $3)::int AS i, count(*)::int AS n
         FROM challenges WHERE confirmed_at >= $1 AND confirmed_at < $2 GROUP BY 1`,
      [since, until, seconds],
    ),
  ]);
  const buckets: SeriesBucket[] = Array.from({ length: n }, (_, i) => ({
    start: new Date(since.getTime() + i * ms),
    deliver: 0,
    challenge: 0,
    quarantine: 0,
    discard: 0,
    confirmed: 0,
  }));
  for (const r of decisions.rows) {
    const b = buckets[r.i];
    const d = SERIES_DECISIONS.find((x) => x === r.decision);
    if (b && d) b[d] += r.n;
  }
  for (const r of confirmed.rows) {
    const b = buckets[r.i];
    if (b) b.confirmed += r.n;
  }
  return { step, since, until, buckets };
}
