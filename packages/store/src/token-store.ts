/**
 * The classifier's TokenStore in PostgreSQL. Reads sum the requested scopes in one query; training is
 * one transaction per message that first takes back what the message contributed before (if anything),
 * so repeated training is a no-op and relabelling moves the counts.
 */
import type { Db, DbClient } from './db.js';
import { withTransaction } from './db.js';

type Label = 'ham' | 'spam';

export class PgTokenStore {
  constructor(private readonly db: Db) {}

  async totals(scopes: readonly number[]): Promise<{ nham: number; nspam: number }> {
    const { rows } = await this.db.query<{ nham: number | null; nspam: number | null }>(
      'SELECT sum(nham) AS nham, sum(nspam) AS nspam FROM classifier_totals WHERE scope = ANY($1::bigint[])',
      [scopes],
    );
    return { nham: Number(rows[0]?.nham ?? 0), nspam: Number(rows[0]?.nspam ?? 0) };
  }

  async counts(scopes: readonly number[], tokens: readonly string[]): Promise<Map<string, { ham: number; spam: number }>> {
    const out = new Map<string, { ham: number; spam: number }>();
    if (tokens.length === 0) return out;
    const { rows } = await this.db.query<{ token: string; ham: number; spam: number }>(
      `SELECT token, sum(ham) AS ham, sum(spam) AS spam FROM classifier_tokens
        WHERE scope = ANY($1::bigint[]) AND token = ANY($2::text[]) GROUP BY token`,
      [scopes, tokens],
    );
    for (const r of rows) out.set(r.token, { ham: Number(r.ham), spam: Number(r.spam) });
    return out;
  }

  async train(scope: number, messageKey: string, tokens: readonly string[], label: Label, weight: number): Promise<void> {
    await withTransaction(this.db, async (tx) => {
      const prev = await tx.query<{ label: Label; weight: number; tokens: string[] }>(
        'SELECT label, weight, tokens FROM classifier_trained WHERE scope = $1 AND message_key = $2 FOR UPDATE',
        [scope, messageKey],
      );
      const old = prev.rows[0];
      if (old && old.label === label && Number(old.weight) === weight) return;
      if (old) await apply(tx, scope, old.tokens, old.label, -Number(old.weight));
      const unique = [...new Set(tokens)];
      await apply(tx, scope, unique, label, weight);
      await tx.query(
        `INSERT INTO classifier_trained (scope, message_key, label, weight, tokens) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (scope, message_key) DO UPDATE SET label = EXCLUDED.label, weight = EXCLUDED.weight, tokens = EXCLUDED.tokens, trained_at = now()`,
        [scope, messageKey, label, weight, unique],
      );
    });
  }

  async untrain(scope: number, messageKey: string): Promise<void> {
    await withTransaction(this.db, async (tx) => {
      const prev = await tx.query<{ label: Label; weight: number; tokens: string[] }>(
        'DELETE FROM classifier_trained WHERE scope = $1 AND message_key = $2 RETURNING label, weight, tokens',
        [scope, messageKey],
      );
      const old = prev.rows[0];
      if (old) await apply(tx, scope, old.tokens, old.label, -Number(old.weight));
    });
  }
}

/** Adds `delta` (negative to take back) to the tokens' count for `label`, and to the scope's total. */
async function apply(tx: DbClient, scope: number, tokens: readonly string[], label: Label, delta: number): Promise<void> {
  const column = label === 'ham' ? 'ham' : 'spam';
  const total = label === 'ham' ? 'nham' : 'nspam';
  // Sorted, so concurrent trainings lock token rows in the same order and cannot deadlock.
  const sorted = [...tokens].sort();
  if (sorted.length && delta >= 0) {
    await tx.query(
      `INSERT INTO classifier_tokens (scope, token, ${column})
       SELECT $1, t, $3 FROM unnest($2::text[]) AS t
       ON CONFLICT (scope, token) DO UPDATE SET ${column} = classifier_tokens.${column} + EXCLUDED.${column}`,
      [scope, sorted, delta],
    );
  } else if (sorted.length) {
    await tx.query(
      `UPDATE classifier_tokens SET ${column} = GREATEST(${column} + $3, 0) WHERE scope = $1 AND token = ANY($2::text[])`,
      [scope, sorted, delta],
    );
  }
  await tx.query(
    `INSERT INTO classifier_totals (scope, ${total}) VALUES ($1, GREATEST($2::double precision, 0))
     ON CONFLICT (scope) DO UPDATE SET ${total} = GREATEST(classifier_totals.${total} + $2::double precision, 0)`,
    [scope, delta],
  );
}
