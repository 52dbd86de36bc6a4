/**
 * Nothing is lost and nothing is sent twice when the engine dies or PostgreSQL goes away: the
 * crash and outage acceptance steps of the backbone issue, with the real `crgate` process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createTestEnvironment, freePort, REMOTE_CLIENT, type TestEnvironment } from './helpers/environment.js';
import { runCli, startEngineReady, type EngineProcess } from './helpers/engine-process.js';
import { lmtpSend, pythonLmtpSend, rawLmtp } from './helpers/lmtp-client.js';
import { sleep, startSink, waitFor, type Sink } from './helpers/sinks.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');

describe('crash and outage', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  });

  async function setup(extra: Record<string, string> = {}): Promise<{ t: TestEnvironment; lmtpSink: Sink; smtpSink: Sink }> {
    const lmtpSink = await startSink('lmtp');
    const smtpSink = await startSink('smtp');
    const t = await createTestEnvironment({
      CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${lmtpSink.port}`,
      CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${smtpSink.port}`,
      ...extra,
    });
    cleanups.push(() => lmtpSink.close(), () => smtpSink.close(), () => t.cleanup());
    const added = await runCli(['users', 'add', 'alice@example.test'], t.env);
    expect(added.code, added.stderr).toBe(0);
    return { t, lmtpSink, smtpSink };
  }

  function track(engine: EngineProcess): EngineProcess {
    cleanups.push(() => engine.kill('SIGKILL'));
    return engine;
  }

  it('sends the challenge once after kill -9 between the 250 and the send (job already in the queue)', async () => {
    const { t, smtpSink } = await setup();
    // The relay is unreachable at first, so the challenge job fails and waits for a retry.
    const deadRelay = `smtp://127.0.0.1:${await freePort()}`;
    // The retry delay is fixed when an attempt fails, so it also applies after the restart.
    const first = track(await startEngineReady({ ...t.env, CRGATE_SMTP_RELAY: deadRelay, CRGATE_WORKER_RETRY_DELAY_MS: '3000' }));
    const result = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
    expect(result.data?.[0]?.[1]).toBe(250);
    expect(await first.waitForLog((l) => l.event === 'job.failed', 'the first failed challenge attempt')).toMatchObject({ retry: true });
    await first.kill('SIGKILL');
    expect(smtpSink.messages).toHaveLength(0);

    // Restarted with a working relay and short retries: the same job is retried and sent once.
    track(await startEngineReady(t.env));
    await waitFor(() => smtpSink.messages.length === 1, 'the challenge after restart', 30_000);
    // The relay's 250 comes before the worker records the challenge as sent.
    await waitFor(async () => (await t.db.query(`SELECT status FROM challenges`)).rows[0]?.status === 'sent', 'the challenge recorded as sent');
    await sleep(1500);
    expect(smtpSink.messages).toHaveLength(1);
    const { rows } = await t.db.query(`SELECT status FROM challenges`);
    expect(rows).toEqual([{ status: 'sent' }]);
  });

  it('sends the challenge once after kill -9 before the outbox was relayed', async () => {
    const { t, smtpSink } = await setup();
    // Only the ingest runs: the challenge exists solely as an outbox row when the process dies.
    const ingestOnly = track(await startEngineReady(t.env, ['--role', 'ingest']));
    const result = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
    expect(result.data?.[0]?.[1]).toBe(250);
    await ingestOnly.kill('SIGKILL');
    const { rows: outbox } = await t.db.query(`SELECT job_name FROM outbox`);
    expect(outbox).toEqual([{ job_name: 'challenge.send' }]);

    track(await startEngineReady(t.env));
    await waitFor(() => smtpSink.messages.length === 1, 'the challenge after restart');
    await sleep(1500);
    expect(smtpSink.messages).toHaveLength(1);
    expect((await t.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n).toBe(0);
  });

  it('answers 4xx after DATA while PostgreSQL is away, and the retried message arrives once', async () => {
    const proxy: TcpProxy = await startTcpProxy(5432);
    cleanups.push(() => proxy.close());
    const { t, lmtpSink } = await setup();
    await runCli(['users', 'add', 'carol@example.test'], t.env);
    const viaProxy = { ...t.env, DATABASE_URL: t.databaseUrl.replace(':5432/', `:${proxy.port}/`) };
    await t.db.query(
      `INSERT INTO list_entries (user_id, list, kind, value, source)
       SELECT id, 'white', 'address', 'bob@remote.test', 'manual' FROM users WHERE address = 'alice@example.test'`,
    );
    track(await startEngineReady(viaProxy));

    // RCPT is checked while the database is up; then it goes away before DATA.
    const lmtp = await rawLmtp(t.lmtpPort);
    expect((await lmtp.command('LHLO mta.test'))[0]).toMatch(/^250[ -]/);
    expect(await lmtp.command('MAIL FROM:<bob@remote.test>')).toEqual([expect.stringMatching(/^250 /)]);
    expect(await lmtp.command('RCPT TO:<alice@example.test>')).toEqual([expect.stringMatching(/^250 /)]);
    await proxy.cut();
    expect(await lmtp.command('DATA')).toEqual([expect.stringMatching(/^354 /)]);
    const afterData = await lmtp.data(FIXTURE, 1);
    lmtp.close();
    expect(afterData).toEqual([expect.stringMatching(/^4\d\d /)]);
    expect(lmtpSink.messages).toHaveLength(0);

    // The MTA retries while the database is still down: still 4xx, at RCPT now.
    const down = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE);
    expect(down[0]!.code).toBeGreaterThanOrEqual(400);
    expect(down[0]!.code).toBeLessThan(500);

    await proxy.restore();
    await waitFor(async () => (await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE))[0]!.code === 250, 'a 250 after PostgreSQL is back', 30_000);
    expect(lmtpSink.messages).toHaveLength(1);
    expect(lmtpSink.messages[0]!.raw.toString('utf8').endsWith(FIXTURE)).toBe(true);
  });
});
