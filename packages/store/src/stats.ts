/** Counts for operators: decisions and reasons over a period, and the state of the outbox and copies. */
import type { Queryable } from './db.js';

export interface DecisionStats {
  since: Date;
  decisions: Record<string, number>;
  reasons: Record<string, number>;
  challenges: Record<string, number>;
}

export async function decisionStats(db: Queryable, since: Date): Promise<DecisionStats> {
  const [decisions, reasons, challenges] = await Promise.all([
    db.query<{ decision: string; n: number }>(
      'SELECT decision, count(*)::int AS n FROM message_recipients WHERE created_at >= $1 GROUP BY decision ORDER BY decision',
      [since],
    ),
    db.query<{ symbol: string; n: number }>(
      `SELECT r->>'symbol' AS symbol, count(*)::int AS n
         FROM message_recipients mr, jsonb_array_elements(mr.reasons) AS r
        WHERE mr.created_at >= $1 GROUP BY 1 ORDER BY 2 DESC, 1`,
      [since],
    ),
    db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM challenges WHERE created_at >= $1 GROUP BY status ORDER BY status', [since]),
  ]);
  return {
    since,
    decisions: Object.fromEntries(decisions.rows.map((r) => [r.decision, r.n])),
    reasons: Object.fromEntries(reasons.rows.map((r) => [r.symbol, r.n])),
    challenges: Object.fromEntries(challenges.rows.map((r) => [r.status, r.n])),
  };
}
