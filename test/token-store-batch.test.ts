/**
 * Batched training (PgTokenStore.trainMany, what the ingest's learning uses) must leave the model
 * exactly as training the same messages one by one does: repeats change nothing, relabelling moves the
 * counts, and several scopes and messages share one transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { openDatabase, PgTokenStore, type Db, type TrainingItem } from '@crgate/store';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';

describe('batched classifier training', () => {
  let t: TestEnvironment;
  let db: Db;

  beforeAll(async () => {
    t = await createTestEnvironment();
    db = await openDatabase(t.databaseUrl, silentLogger, { max: 4 });
  });

  afterAll(async () => {
    await db?.end();
    await t?.cleanup();
  });

  async function model(scopeBase: number): Promise<unknown> {
    const tokens = await db.query(
      `SELECT scope - $1 AS scope, token, ham, spam FROM classifier_tokens WHERE scope >= $1 AND scope < $1 + 100 ORDER BY 1, 2`,
      [scopeBase],
    );
    const totals = await db.query(`SELECT scope - $1 AS scope, nham, nspam FROM classifier_totals WHERE scope >= $1 AND scope < $1 + 100 ORDER BY 1`, [
      scopeBase,
    ]);
    const trained = await db.query(
      `SELECT scope - $1 AS scope, message_key, label, weight, tokens FROM classifier_trained WHERE scope >= $1 AND scope < $1 + 100 ORDER BY 1, 2`,
      [scopeBase],
    );
    return { tokens: tokens.rows, totals: totals.rows, trained: trained.rows };
  }

  const history = (base: number): TrainingItem[][] => [
    [
      { scope: base + 1, messageKey: 'm1', tokens: ['free', 'money', 'free'], label: 'spam', weight: 1 },
      { scope: base + 1, messageKey: 'm2', tokens: ['meeting', 'monday'], label: 'ham', weight: 1 },
      { scope: base + 2, messageKey: 'm1', tokens: ['free', 'lunch'], label: 'ham', weight: 0.5 },
    ],
    [
      // The same message again, unchanged: nothing moves.
      { scope: base + 1, messageKey: 'm2', tokens: ['meeting', 'monday'], label: 'ham', weight: 1 },
      // Relabelled: its counts move from spam to ham.
      { scope: base + 1, messageKey: 'm1', tokens: ['free', 'money'], label: 'ham', weight: 1 },
      { scope: base + 1, messageKey: 'm3', tokens: ['money', 'wire'], label: 'spam', weight: 0.5 },
      // Twice in one batch: the later one wins, as in order.
      { scope: base + 2, messageKey: 'm4', tokens: ['wire'], label: 'ham', weight: 1 },
      { scope: base + 2, messageKey: 'm4', tokens: ['wire'], label: 'spam', weight: 1 },
    ],
  ];

  it('answers from its cache of the global model what the database answers, also after the global model is trained', async () => {
    const cachedStore = new PgTokenStore(db, 0);
    const plain = new PgTokenStore(db);
    const tokens = ['cheap', 'pills', 'hello', 'never-seen'];
    await plain.train(0, 'g1', ['cheap', 'pills'], 'spam', 1);
    await plain.train(0, 'g2', ['hello'], 'ham', 1);
    await plain.train(77, 'u1', ['hello', 'cheap'], 'ham', 1);
    const first = await cachedStore.lookup([0, 77], tokens);
    expect(first).toEqual(await plain.lookup([0, 77], tokens));
    expect(first.counts.get('cheap')).toEqual({ ham: 1, spam: 1 });
    expect(first.counts.has('never-seen')).toBe(false);
    // crgate train adds to the global model: the next lookup must see it, not the cached counts.
    await plain.train(0, 'g3', ['never-seen', 'cheap'], 'spam', 1);
    const second = await cachedStore.lookup([0, 77], tokens);
    expect(second).toEqual(await plain.lookup([0, 77], tokens));
    expect(second.counts.get('never-seen')).toEqual({ ham: 0, spam: 1 });
    expect(second.totals).toEqual({ nham: 2, nspam: 2 });
  });

  it('counts a token asked for twice once, in every way of looking it up', async () => {
    const plain = new PgTokenStore(db);
    await plain.train(300, 'd1', ['twice', 'once'], 'spam', 1);
    await plain.train(301, 'd2', ['twice'], 'ham', 1);
    const asked = ['twice', 'once', 'twice', 'absent', 'twice'];
    const expected = new Map([
      ['twice', { ham: 1, spam: 1 }],
      ['once', { ham: 0, spam: 1 }],
    ]);
    expect(await plain.counts([300, 301], asked)).toEqual(expected);
    expect((await plain.lookup([300, 301], asked)).counts).toEqual(expected);
    expect((await new PgTokenStore(db, 300).lookup([300, 301], asked)).counts).toEqual(expected);
  });

  it('leaves the same counts, totals and training log as training one message at a time', async () => {
    const store = new PgTokenStore(db);
    for (const batch of history(1000)) for (const it of batch) await store.train(it.scope, it.messageKey, it.tokens, it.label, it.weight);
    for (const batch of history(2000)) await store.trainMany(batch);
    const one = await model(1000);
    expect(await model(2000)).toEqual(one);
    expect((one as { totals: unknown[] }).totals).toEqual([
      { scope: 1, nham: 2, nspam: 0.5 },
      { scope: 2, nham: 0.5, nspam: 1 },
    ]);
  });

  it('counts a message once when it is trained twice at the same moment, whatever the labels', async () => {
    const store = new PgTokenStore(db);
    for (let round = 0; round < 10; round++) {
      const scope = 4000 + round;
      const key = `race-${round}`;
      const attempts = [
        store.train(scope, key, ['alpha', 'beta'], 'spam', 1),
        store.train(scope, key, ['alpha', 'beta'], 'ham', 1),
        store.trainMany([{ scope, messageKey: key, tokens: ['alpha', 'beta'], label: 'ham', weight: 1 }]),
      ];
      await Promise.all(attempts);
      const { rows: log } = await db.query(`SELECT label FROM classifier_trained WHERE scope = $1`, [scope]);
      expect(log).toHaveLength(1);
      const label = log[0].label as 'ham' | 'spam';
      const { rows: tokens } = await db.query(`SELECT token, ham, spam FROM classifier_tokens WHERE scope = $1 ORDER BY token`, [scope]);
      const one = label === 'ham' ? { ham: 1, spam: 0 } : { ham: 0, spam: 1 };
      expect(tokens.map((r) => ({ token: r.token, ham: Number(r.ham), spam: Number(r.spam) }))).toEqual([
        { token: 'alpha', ...one },
        { token: 'beta', ...one },
      ]);
      const { rows: totals } = await db.query(`SELECT nham, nspam FROM classifier_totals WHERE scope = $1`, [scope]);
      expect(totals.map((r) => ({ ham: Number(r.nham), spam: Number(r.nspam) }))).toEqual([one]);
    }
  });

  it('does not deadlock a batch that relabels one message against a training of the same tokens', async () => {
    // The batch takes back B's ham and adds A's; the single training adds A and B at once.
    const store = new PgTokenStore(db);
    const scope = 9_000;
    const a = Array.from({ length: 300 }, (_, i) => `a${String(i).padStart(4, '0')}`);
    const b = Array.from({ length: 300 }, (_, i) => `b${String(i).padStart(4, '0')}`);
    const failures: string[] = [];
    for (let round = 0; round < 40; round++) {
      await store.train(scope, `x${round}`, b, 'ham', 1);
      const results = await Promise.allSettled([
        store.trainMany([
          { scope, messageKey: `x${round}`, tokens: b, label: 'spam', weight: 1 },
          { scope, messageKey: `y${round}`, tokens: a, label: 'ham', weight: 1 },
        ]),
        store.train(scope, `z${round}`, [...a, ...b], 'spam', 1),
      ]);
      for (const r of results) if (r.status === 'rejected') failures.push(String((r.reason as Error).message));
    }
    expect(failures).toEqual([]);
    const counts = await db.query(`SELECT ham, spam FROM classifier_tokens WHERE scope = $1 AND token IN ('a0000', 'b0000') ORDER BY token`, [scope]);
    expect(counts.rows).toEqual([{ ham: 40, spam: 40 }, { ham: 0, spam: 80 }]);
  });
});
