/**
 * What goes wrong only when several crgate processes share one PostgreSQL: several starting at once on
 * a database that does not exist yet, two workers queueing stranded work again at the same moment, and
 * two hourly expiry sweeps at once (a worker whose job lock lapsed, two workers after a Redis failover).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import {
  addUser,
  createPool,
  ensureDatabase,
  expireHistory,
  findUserByAddress,
  migrate,
  prepareMonthPartitions,
  recordMessage,
  requeueStranded,
} from '@crgate/store';
import { createMailTestEnvironment, createTestEnvironment, type TestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';

const failures = (results: PromiseSettledResult<unknown>[]) =>
  results.flatMap((r) => (r.status === 'rejected' ? [`${(r.reason as { code?: string }).code}: ${(r.reason as Error).message}`] : []));

describe('several processes on one PostgreSQL', () => {
  const environments: TestEnvironment[] = [];
  afterAll(async () => {
    for (const t of environments) await t.cleanup();
  });

  it('lets every process that starts at once on a database that does not exist yet go on', async () => {
    for (let round = 0; round < 3; round++) {
      const t = await createTestEnvironment();
      environments.push(t);
      // Every `crgate start` and `crgate migrate` calls this first.
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => ensureDatabase(t.databaseUrl, silentLogger)));
      expect(failures(results)).toEqual([]);
    }
  });

  it('opens no more PostgreSQL connections per process than CRGATE_DATABASE_POOL_SIZE', async () => {
    const t = await createMailTestEnvironment({ CRGATE_DATABASE_POOL_SIZE: '3' });
    environments.push(t);
    const engine = await startInProcess(t.env, ['ingest']);
    try {
      expect((engine.db as unknown as { options: { max: number } }).options.max).toBe(3);
    } finally {
      await engine.stop();
    }
  });

  it('queues each stranded job again once when two workers look for them at the same moment', async () => {
    const t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    environments.push(t);
    const ingest = await startInProcess(t.env, ['ingest']);
    try {
      await addUser(ingest.db, 'alice@example.test');
      for (let i = 0; i < 10; i++) {
        const raw = `From: bob${i}@remote.test\r\nTo: alice@example.test\r\nSubject: x\r\nMessage-ID: <stranded-${i}@remote.test>\r\n\r\nHi.\r\n`;
        expect((await lmtpSend(t.lmtpPort, `bob${i}@remote.test`, ['alice@example.test'], raw))[0]!.code).toBe(250);
      }
    } finally {
      await ingest.stop();
    }
    // Redis lost its data after the rows were relayed: the challenges are queued and their jobs gone.
    await t.db.query(`UPDATE challenges SET created_at = created_at - interval '1 hour'`);
    const pools = [createPool(t.databaseUrl, { max: 1 }), createPool(t.databaseUrl, { max: 1 })];
    try {
      for (let round = 0; round < 5; round++) {
        await t.db.query('DELETE FROM outbox');
        await Promise.all(pools.map((p) => p.query('SELECT 1')));
        const queued = await Promise.all(pools.map((p) => requeueStranded(p)));
        expect(queued.reduce((a, b) => a + b)).toBe(10);
        const { rows } = await t.db.query(`SELECT count(*)::int AS rows, count(DISTINCT job_id)::int AS jobs FROM outbox`);
        expect(rows[0]).toEqual({ rows: 10, jobs: 10 });
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('runs two expiry sweeps started at once without either failing, and expires what one alone would', async () => {
    for (let round = 0; round < 4; round++) {
      const t = await createTestEnvironment();
      environments.push(t);
      await ensureDatabase(t.databaseUrl, silentLogger);
      const [one, two] = [createPool(t.databaseUrl, { max: 3 }), createPool(t.databaseUrl, { max: 3 })];
      try {
        await migrate(one, silentLogger);
        await addUser(one, 'alice@example.test');
        const alice = (await findUserByAddress(one, 'alice@example.test'))!.id;
        await prepareMonthPartitions(one, new Date('2033-01-01T00:00:00Z'), 1);
        const put = async (now: Date, held: boolean, tag: string) => {
          const raw = Buffer.from(`From: s@remote.test\r\nSubject: ${tag}\r\n\r\nbody\r\n`);
          await recordMessage(
            one,
            { mailFrom: 's@remote.test', mailFromOriginal: 's@remote.test', subject: tag, size: raw.length, sha256: tag },
            raw,
            [{ userId: alice, rcptTo: 'alice@example.test', decision: { action: held ? 'quarantine' : 'deliver', reasons: [] }, delivered: !held }],
            { now, secret: 'x'.repeat(40), publicHost: 'crgate.test', tokenTtlDays: 14, perPairDays: 7, heldDays: 3650, discardedDays: 7 },
          );
        };
        // January keeps one held copy (its finished rows are deleted one by one); February is dropped whole.
        await put(new Date('2033-01-03T00:00:00Z'), true, 'held');
        await one.query(
          `WITH m AS (INSERT INTO messages (received_at, mail_from, size, sha256, raw, subject, trace_id)
                      SELECT '2033-01-05T00:00:00Z', 's@remote.test', 10, 'jan' || g, NULL, 'x', 't' || g FROM generate_series(1, 3000) g
                      RETURNING id, received_at)
           INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, created_at, expires_at, received_at)
           SELECT m.id, $1, 'alice@example.test', 's@remote.test', 'deliver', '[]', 'delivered', m.received_at, m.received_at, m.received_at FROM m`,
          [alice],
        );
        for (let i = 0; i < 5; i++) await put(new Date('2033-02-05T00:00:00Z'), false, `feb-${i}`);
        const results = await Promise.allSettled([one, two].map((db) => expireHistory(db, new Date('2034-01-15T00:00:00Z'), 180)));
        expect(failures(results)).toEqual([]);
        const { rows } = await one.query(`SELECT status, count(*)::int AS n FROM message_recipients GROUP BY status`);
        expect(rows).toEqual([{ status: 'held', n: 1 }]);
      } finally {
        await Promise.all([one.end(), two.end()]);
      }
    }
  });
});
