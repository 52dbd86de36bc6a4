/**
 * The classifier's TokenStore in PostgreSQL. Reads sum the requested scopes in one query; training is
 * one transaction per message that first takes back what the message contributed before (if anything),
 * so repeated training is a no-op and relabelling moves the counts.
 */
import type { Db, DbClient } from './db.js';
import { withTransaction } from './db.js';

type Label = 'ham' | 'spam';

/** The cached scope's counts are read again at least this often... */
const CACHE_TTL_MS = 60_000;
/** ...and when the cache holds more tokens than this. */
const CACHE_MAX_TOKENS = 200_000;

/** One message to train (see PgTokenStore.trainMany). */
export interface TrainingItem {
  scope: number;
  messageKey: string;
  tokens: readonly string[];
  label: Label;
  weight: number;
}

/** What a trained message contributed, as classifier_trained keeps it. */
interface Contribution {
  label: Label;
  weight: number;
  tokens: readonly string[];
}

/**
 * `FROM <this>`: the rows of the given tokens (a text[] parameter), found by one index probe per
 * distinct token, whatever the planner believes. Written as `token = ANY($n)`, the
 * lookup was planned from the table's statistics, and a recipient's model that had grown since the
 * last ANALYZE looked small: PostgreSQL read the recipient's whole model and filtered it (6–20 ms a
 * message, the largest cost of the ingest in PostgreSQL) instead of probing 100–3,000 tokens (1.7 ms
 * on average in the bench, docs/performance.md). A LATERAL subquery kept apart by OFFSET 0 cannot be turned into a scan and a hash join.
 */
function probeEach(tokensParam: string, scopeCondition: string): string {
  return `(SELECT DISTINCT unnest(${tokensParam}::text[])) AS t(token)
    CROSS JOIN LATERAL (SELECT scope, token, ham, spam FROM classifier_tokens WHERE token = t.token AND ${scopeCondition} OFFSET 0) c`;
}

export class PgTokenStore {
  private cache: { version: string; until: number; counts: Map<string, { ham: number; spam: number } | null> } | undefined;

  /** `cacheScope`: keep that scope's token counts in memory (see lookup). */
  constructor(
    private readonly db: Db,
    private readonly cacheScope?: number,
  ) {}

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
      `SELECT c.token, sum(c.ham) AS ham, sum(c.spam) AS spam FROM ${probeEach('$2', 'scope = ANY($1::bigint[])')} GROUP BY c.token`,
      [scopes, tokens],
    );
    for (const r of rows) out.set(r.token, { ham: Number(r.ham), spam: Number(r.spam) });
    return out;
  }

  /**
   * totals() and counts() in one round trip: the classifier asks both for every message, and each
   * round trip is a wake-up of both processes on the ingest's hot path.
   *
   * With `cacheScope` set (the ingest sets the global scope, 0), the counts of that scope are kept in
   * memory: most of a message's tokens are the same few thousand, and looking up the global model's
   * rows for every message was the largest read of the ingest. That scope changes only when
   * `crgate train` runs, and every lookup reads its totals anyway: when they differ from those the
   * cache was filled under, the cache is dropped. It is also dropped after CACHE_TTL_MS, and when it
   * outgrows CACHE_MAX_TOKENS. Tokens the scope does not have are cached too (as absent).
   */
  async lookup(
    scopes: readonly number[],
    tokens: readonly string[],
  ): Promise<{ totals: { nham: number; nspam: number }; counts: Map<string, { ham: number; spam: number }> }> {
    const cached = this.cacheScope !== undefined && scopes.includes(this.cacheScope) ? this.cacheScope : undefined;
    if (cached === undefined) return this.lookupUncached(scopes, tokens);
    // A token asked for twice is counted once, as the database answers it.
    tokens = [...new Set(tokens)];
    const now = Date.now();
    if (this.cache && (now > this.cache.until || this.cache.counts.size > CACHE_MAX_TOKENS)) this.cache = undefined;
    const cache = this.cache;
    // One pass over the tokens: what the cache knows (present or absent) and what it has to ask for.
    const missing: string[] = [];
    const hits: Array<{ ham: number; spam: number }> = [];
    const hitTokens: string[] = [];
    if (cache) {
      for (const t of tokens) {
        const c = cache.counts.get(t);
        if (c === undefined) missing.push(t);
        else if (c) {
          hitTokens.push(t);
          hits.push(c);
        }
      }
    }
    const others = scopes.filter((sc) => sc !== cached);
    const { rows } = await this.db.query<{ scope: number; token: string | null; ham: number; spam: number }>({
      name: 'crgate.classifier_lookup_cached',
      text: `SELECT scope, NULL AS token, nham AS ham, nspam AS spam FROM classifier_totals WHERE scope = ANY($1::bigint[])
             UNION ALL
             SELECT c.scope, c.token, c.ham, c.spam FROM ${probeEach('$3', 'scope = ANY($2::bigint[])')}
             UNION ALL
             SELECT c.scope, c.token, c.ham, c.spam FROM ${probeEach('$5', 'scope = $4')}`,
      values: [scopes, others, tokens, cached, cache ? missing : tokens],
    });
    const totals = { nham: 0, nspam: 0 };
    let version = '0/0';
    const counts = new Map<string, { ham: number; spam: number }>();
    const fetched = new Map<string, { ham: number; spam: number }>();
    const addTo = (m: Map<string, { ham: number; spam: number }>, token: string, ham: number, spam: number) => {
      const c = m.get(token);
      if (c) {
        c.ham += ham;
        c.spam += spam;
      } else m.set(token, { ham, spam });
    };
    for (const r of rows) {
      if (r.token === null) {
        totals.nham += Number(r.ham);
        totals.nspam += Number(r.spam);
        if (r.scope === cached) version = `${r.ham}/${r.spam}`;
      } else if (r.scope === cached) fetched.set(r.token, { ham: Number(r.ham), spam: Number(r.spam) });
      else addTo(counts, r.token, Number(r.ham), Number(r.spam));
    }
    if (cache && cache.version !== version) {
      // The cached scope was trained since: what the cache holds may be stale.
      this.cache = undefined;
      return this.lookupUncached(scopes, tokens);
    }
    const live = cache ?? (this.cache = { version, until: now + CACHE_TTL_MS, counts: new Map() });
    for (let i = 0; i < hitTokens.length; i++) addTo(counts, hitTokens[i]!, hits[i]!.ham, hits[i]!.spam);
    for (const t of cache ? missing : tokens) {
      const c = fetched.get(t) ?? null;
      live.counts.set(t, c);
      if (c) addTo(counts, t, c.ham, c.spam);
    }
    return { totals, counts };
  }

  private async lookupUncached(
    scopes: readonly number[],
    tokens: readonly string[],
  ): Promise<{ totals: { nham: number; nspam: number }; counts: Map<string, { ham: number; spam: number }> }> {
    const { rows } = await this.db.query<{ token: string | null; ham: number | null; spam: number | null }>({
      name: 'crgate.classifier_lookup',
      text: `SELECT NULL AS token, sum(nham) AS ham, sum(nspam) AS spam FROM classifier_totals WHERE scope = ANY($1::bigint[])
             UNION ALL
             SELECT c.token, sum(c.ham), sum(c.spam) FROM ${probeEach('$2', 'scope = ANY($1::bigint[])')} GROUP BY c.token`,
      values: [scopes, tokens],
    });
    const totals = { nham: 0, nspam: 0 };
    const counts = new Map<string, { ham: number; spam: number }>();
    for (const r of rows) {
      if (r.token === null) Object.assign(totals, { nham: Number(r.ham ?? 0), nspam: Number(r.spam ?? 0) });
      else counts.set(r.token, { ham: Number(r.ham), spam: Number(r.spam) });
    }
    return { totals, counts };
  }

  async train(scope: number, messageKey: string, tokens: readonly string[], label: Label, weight: number): Promise<boolean> {
    return withTransaction(this.db, async (tx) => {
      await lockMessages(tx, [{ scope, messageKey }]);
      const prev = await tx.query<{ label: Label; weight: number; tokens: string[] }>(
        'SELECT label, weight, tokens FROM classifier_trained WHERE scope = $1 AND message_key = $2 FOR UPDATE',
        [scope, messageKey],
      );
      const old = prev.rows[0];
      if (old && old.label === label && Number(old.weight) === weight) return false;
      const deltas = new CountDeltas();
      if (old) deltas.add(scope, { label: old.label, weight: Number(old.weight), tokens: old.tokens }, -1);
      const unique = [...new Set(tokens)];
      deltas.add(scope, { label, weight, tokens: unique }, +1);
      await deltas.write(tx);
      await tx.query(
        `INSERT INTO classifier_trained (scope, message_key, label, weight, tokens) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (scope, message_key) DO UPDATE SET label = EXCLUDED.label, weight = EXCLUDED.weight, tokens = EXCLUDED.tokens, trained_at = now()`,
        [scope, messageKey, label, weight, unique],
      );
      return true;
    });
  }

  /**
   * Trains many messages in one transaction of at most six statements, whatever their number: what each
   * contributed before is read at once, the net change of every (scope, token) is summed in memory and
   * written by one upsert, then the scopes' totals and the training log. The result is the same as
   * training them one by one in order (a later item for the same message wins). Token rows are written
   * in (scope, token) order, so concurrent batches and single trainings cannot deadlock.
   */
  async trainMany(items: readonly TrainingItem[]): Promise<void> {
    if (items.length === 0) return;
    await withTransaction(this.db, async (tx) => {
      const keyOf = (scope: number, messageKey: string) => `${scope}\u0000${messageKey}`;
      const wanted = new Map<string, { scope: number; messageKey: string }>();
      for (const it of items) wanted.set(keyOf(it.scope, it.messageKey), { scope: it.scope, messageKey: it.messageKey });
      await lockMessages(tx, [...wanted.values()]);
      const prev = await tx.query<{ scope: number; message_key: string; label: Label; weight: number; tokens: string[] }>(
        `SELECT t.scope, t.message_key, t.label, t.weight, t.tokens FROM classifier_trained t
           JOIN unnest($1::bigint[], $2::text[]) AS k(scope, message_key) ON t.scope = k.scope AND t.message_key = k.message_key
          ORDER BY t.scope, t.message_key FOR UPDATE OF t`,
        [[...wanted.values()].map((w) => w.scope), [...wanted.values()].map((w) => w.messageKey)],
      );
      const current = new Map<string, Contribution>();
      for (const r of prev.rows) current.set(keyOf(r.scope, r.message_key), { label: r.label, weight: Number(r.weight), tokens: r.tokens });
      const changed = new Map<string, { scope: number; messageKey: string; c: Contribution }>();
      const deltas = new CountDeltas();
      for (const it of items) {
        const k = keyOf(it.scope, it.messageKey);
        const old = current.get(k);
        if (old && old.label === it.label && old.weight === it.weight) continue;
        if (old) deltas.add(it.scope, old, -1);
        const c: Contribution = { label: it.label, weight: it.weight, tokens: [...new Set(it.tokens)] };
        deltas.add(it.scope, c, +1);
        current.set(k, c);
        changed.set(k, { scope: it.scope, messageKey: it.messageKey, c });
      }
      if (changed.size === 0) return;
      await deltas.write(tx);
      const rows = [...changed.values()];
      await tx.query(
        `INSERT INTO classifier_trained (scope, message_key, label, weight, tokens)
         SELECT scope, message_key, label, weight, tokens
           FROM jsonb_to_recordset($1::jsonb) AS r(scope bigint, message_key text, label text, weight double precision, tokens text[])
         ON CONFLICT (scope, message_key) DO UPDATE SET label = EXCLUDED.label, weight = EXCLUDED.weight, tokens = EXCLUDED.tokens, trained_at = now()`,
        [JSON.stringify(rows.map((r) => ({ scope: r.scope, message_key: r.messageKey, label: r.c.label, weight: r.c.weight, tokens: r.c.tokens })))],
      );
    });
  }

  async untrain(scope: number, messageKey: string): Promise<void> {
    await withTransaction(this.db, async (tx) => {
      await lockMessages(tx, [{ scope, messageKey }]);
      const prev = await tx.query<{ label: Label; weight: number; tokens: string[] }>(
        'DELETE FROM classifier_trained WHERE scope = $1 AND message_key = $2 RETURNING label, weight, tokens',
        [scope, messageKey],
      );
      const old = prev.rows[0];
      if (!old) return;
      const deltas = new CountDeltas();
      deltas.add(scope, { label: old.label, weight: Number(old.weight), tokens: old.tokens }, -1);
      await deltas.write(tx);
    });
  }
}

/**
 * Serialises the training of the same message in one scope until the transaction ends. The training
 * log's row lock (FOR UPDATE) does not do it for a message trained for the first time — there is no row
 * yet — and two trainings at once would then both add the message's tokens, while the log keeps one.
 * Taken in one order, so that batches cannot deadlock each other.
 */
async function lockMessages(tx: DbClient, keys: ReadonlyArray<{ scope: number; messageKey: string }>): Promise<void> {
  const names = [...new Set(keys.map((k) => `classifier:${k.scope}:${k.messageKey}`))].sort();
  await tx.query('SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM (SELECT unnest($1::text[]) AS k ORDER BY 1) s', [names]);
}

/**
 * The net change of every (scope, token) and of every scope's totals that a transaction makes, written
 * at once. Every token row the change touches is locked by one upsert in (scope, token) order, also the
 * rows that only lose counts, before any count is lowered: a transaction that took some rows in a
 * second pass (relabelling takes back one label, then adds the other) could deadlock with one that
 * took the same rows in a single pass. Counts never go below 0.
 */
class CountDeltas {
  /** scope → token → [ham, spam] */
  private readonly tokens = new Map<number, Map<string, [number, number]>>();
  private readonly totals = new Map<number, [number, number]>();

  add(scope: number, c: Contribution, sign: 1 | -1): void {
    const i = c.label === 'ham' ? 0 : 1;
    const perScope = this.tokens.get(scope) ?? new Map<string, [number, number]>();
    this.tokens.set(scope, perScope);
    for (const t of c.tokens) {
      const d = perScope.get(t) ?? [0, 0];
      d[i] += sign * c.weight;
      perScope.set(t, d);
    }
    const tot = this.totals.get(scope) ?? [0, 0];
    tot[i] += sign * c.weight;
    this.totals.set(scope, tot);
  }

  async write(tx: DbClient): Promise<void> {
    const all = { scopes: [] as number[], tokens: [] as string[], ham: [] as number[], spam: [] as number[] };
    const loss = { scopes: [] as number[], tokens: [] as string[], ham: [] as number[], spam: [] as number[] };
    for (const scope of [...this.tokens.keys()].sort((a, b) => a - b)) {
      const perScope = this.tokens.get(scope)!;
      for (const token of [...perScope.keys()].sort()) {
        const [h, sp] = perScope.get(token)!;
        if (h === 0 && sp === 0) continue;
        all.scopes.push(scope);
        all.tokens.push(token);
        all.ham.push(Math.max(h, 0));
        all.spam.push(Math.max(sp, 0));
        if (h < 0 || sp < 0) {
          loss.scopes.push(scope);
          loss.tokens.push(token);
          loss.ham.push(Math.min(h, 0));
          loss.spam.push(Math.min(sp, 0));
        }
      }
    }
    if (all.tokens.length) {
      await tx.query(
        `INSERT INTO classifier_tokens AS c (scope, token, ham, spam)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::double precision[], $4::double precision[])
         ON CONFLICT (scope, token) DO UPDATE SET ham = c.ham + EXCLUDED.ham, spam = c.spam + EXCLUDED.spam`,
        [all.scopes, all.tokens, all.ham, all.spam],
      );
    }
    if (loss.tokens.length) {
      // Rows all locked by the upsert above, so the order of this update does not matter.
      await tx.query(
        `UPDATE classifier_tokens c SET ham = GREATEST(c.ham + d.ham, 0), spam = GREATEST(c.spam + d.spam, 0)
           FROM unnest($1::bigint[], $2::text[], $3::double precision[], $4::double precision[]) AS d(scope, token, ham, spam)
          WHERE c.scope = d.scope AND c.token = d.token`,
        [loss.scopes, loss.tokens, loss.ham, loss.spam],
      );
    }
    const totalScopes = [...this.totals.keys()].sort((a, b) => a - b);
    if (!totalScopes.length) return;
    await tx.query(
      `INSERT INTO classifier_totals AS c (scope, nham, nspam)
       SELECT scope, GREATEST(h, 0), GREATEST(s, 0) FROM unnest($1::bigint[], $2::double precision[], $3::double precision[]) AS d(scope, h, s)
       ON CONFLICT (scope) DO UPDATE
         -- EXCLUDED holds the clamped values for a new row; an existing one takes the signed change.
         SET (nham, nspam) = (SELECT GREATEST(c.nham + d.h, 0), GREATEST(c.nspam + d.s, 0)
                                FROM unnest($1::bigint[], $2::double precision[], $3::double precision[]) AS d(scope, h, s)
                               WHERE d.scope = c.scope)`,
      [totalScopes, totalScopes.map((s) => this.totals.get(s)![0]), totalScopes.map((s) => this.totals.get(s)![1])],
    );
  }
}
