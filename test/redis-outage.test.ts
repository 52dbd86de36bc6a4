/**
 * Redis goes away mid-stream: the ingest keeps accepting (it never needs Redis), challenges wait in
 * the PostgreSQL outbox, and when Redis is back every challenge goes out once — none lost, none twice.
 * Redis is taken away with a TCP proxy, as stopping the shared server would disturb other test files.
 * Redis going away while the worker's BullMQ queues are being set up is a case of its own: BullMQ keeps
 * such a queue failing for good, so the worker has to build it again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { addUser, QUEUES, redisKeys } from '@crgate/store';
import { createTestEnvironment, REDIS_URL, type TestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, startSink, waitFor, type Sink } from './helpers/sinks.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const SENDERS = 20;

/** The engine's settings: Redis through the proxy that can take it away, and the two sinks. */
function throughProxy(proxy: TcpProxy, smtpSink: Sink, lmtpSink: Sink): Record<string, string> {
  return {
    REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${smtpSink.port}`,
    CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${lmtpSink.port}`,
    CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
  };
}

describe('a Redis outage', () => {
  let t: TestEnvironment;
  let smtpSink: Sink;
  let lmtpSink: Sink;
  let proxy: TcpProxy;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    smtpSink = await startSink('smtp');
    lmtpSink = await startSink('lmtp');
    proxy = await startTcpProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    t = await createTestEnvironment(throughProxy(proxy, smtpSink, lmtpSink));
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await proxy?.close();
    await smtpSink?.close();
    await lmtpSink?.close();
    await t?.cleanup();
  });

  it('keeps accepting mail and sends every challenge exactly once when Redis is back', async () => {
    await proxy.cut();
    for (let i = 0; i < SENDERS; i++) {
      const raw = `From: s${i}@outage${i}.test\r\nTo: alice@example.test\r\nSubject: hello ${i}\r\nMessage-ID: <outage-${i}@test>\r\n\r\nHi.\r\n`;
      expect((await lmtpSend(t.lmtpPort, `s${i}@outage${i}.test`, ['alice@example.test'], raw))[0]!.code).toBe(250);
    }
    await sleep(1500);
    expect(smtpSink.messages).toHaveLength(0);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n).toBe(SENDERS);

    await proxy.restore();
    await waitFor(() => smtpSink.messages.length >= SENDERS, 'every challenge after Redis is back', 60_000);
    await sleep(2000);
    expect(smtpSink.messages).toHaveLength(SENDERS);
    expect(new Set(smtpSink.messages.map((m) => m.rcptTo[0])).size).toBe(SENDERS);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n).toBe(0);
  }, 120_000);

  it('queues again, at worker start, the work whose jobs Redis lost', async () => {
    await engine.stop();
    const ingestOnly = await startInProcess(t.env, ['ingest']);
    const raw = `From: lost@lost.test\r\nTo: alice@example.test\r\nSubject: lost job\r\nMessage-ID: <lost-job@test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, 'lost@lost.test', ['alice@example.test'], raw))[0]!.code).toBe(250);
    await ingestOnly.stop();
    // As if the relay had moved the job to Redis and Redis then lost its data.
    await t.db.query(`DELETE FROM outbox`);
    await t.db.query(`UPDATE challenges SET created_at = now() - interval '20 minutes' WHERE sender = 'lost@lost.test'`);
    const before = smtpSink.messages.length;
    engine = await startInProcess(t.env);
    await waitFor(() => smtpSink.messages.length === before + 1, 'the stranded challenge', 30_000);
    expect(smtpSink.messages.at(-1)!.rcptTo).toEqual(['lost@lost.test']);
    // The relay's 250 comes before the worker records the send: wait for the record, not just the mail.
    const status = async () => (await t.db.query(`SELECT status FROM challenges WHERE sender = 'lost@lost.test'`)).rows;
    await waitFor(async () => (await status())[0]?.status === 'sent', 'the stranded challenge recorded as sent');
    expect(await status()).toEqual([{ status: 'sent' }]);
  }, 60_000);
});

describe('a Redis outage while the worker sets its queues up', () => {
  let t: TestEnvironment;
  let smtpSink: Sink;
  let lmtpSink: Sink;
  let proxy: TcpProxy;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let tripped = false;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    smtpSink = await startSink('smtp');
    lmtpSink = await startSink('lmtp');
    proxy = await startTcpProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    // The worker's first connection is its producer connection (worker.ts). Its first INFO is ioredis's
    // ready check; the next is each BullMQ queue asking Redis its version, once the connection is ready.
    // Redis goes away right then, with those questions unanswered (as when it restarts while the
    // worker starts), and stays away long enough for ioredis to give them up.
    let infos = 0;
    proxy.tripwire = (data, at) => {
      if (at.connection !== 0) return false;
      const seen = infos;
      infos += data.toString('latin1').match(/\$4\r\ninfo\r\n/gi)?.length ?? 0;
      if (seen === 0 || infos === seen) return false;
      proxy.tripwire = undefined;
      tripped = true;
      return true;
    };
    t = await createTestEnvironment(throughProxy(proxy, smtpSink, lmtpSink));
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await engine?.stop();
    await proxy?.close();
    await smtpSink?.close();
    await lmtpSink?.close();
    await t?.cleanup();
  });

  it('relays and schedules once Redis is back, with no rejection left unhandled', async () => {
    await waitFor(() => tripped, "Redis going away during the queues' setup");
    await sleep(1000);
    await proxy.restore();

    const raw = `From: early@early.test\r\nTo: alice@example.test\r\nSubject: early\r\nMessage-ID: <early@test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, 'early@early.test', ['alice@example.test'], raw))[0]!.code).toBe(250);
    await waitFor(() => smtpSink.messages.length === 1, 'the challenge, relayed by a queue set up again', 30_000);
    expect(smtpSink.messages[0]!.rcptTo).toEqual(['early@early.test']);

    // The hourly expiry and digest jobs are scheduled too (retried every 5 s).
    const maintenance = new Queue(QUEUES.maintenance, { connection: { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) }, prefix: redisKeys(t.redisPrefix).bullPrefix });
    try {
      const schedulers = async () => (await maintenance.getJobSchedulers()).map((j) => j.key).sort();
      await waitFor(async () => (await schedulers()).length === 2, 'the maintenance jobs scheduled', 30_000);
      expect(await schedulers()).toEqual(['digest', 'expiry']);
    } finally {
      await maintenance.close();
    }
    expect(unhandled).toEqual([]);
  }, 90_000);
});
