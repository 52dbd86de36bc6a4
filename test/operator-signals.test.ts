/**
 * What an operator sees of the real `crgate start` process when something around it is wrong: a log
 * line for every refusal it passes on, and an ops port that is free or a process that does not start.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createMailTestEnvironment, REMOTE_CLIENT, type MailTestEnvironment } from './helpers/environment.js';
import { runCli, startEngineProcess, startEngineReady, type EngineProcess } from './helpers/engine-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { applyQuarantineAction, findUserByAddress } from '@crgate/store';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');

describe('operator signals', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  });

  /** A fresh installation with alice as its user, and sinks for delivery and challenges. */
  async function setup(): Promise<MailTestEnvironment> {
    const t = await createMailTestEnvironment();
    cleanups.push(() => t.cleanup());
    const added = await runCli(['users', 'add', 'alice@example.test'], t.env);
    expect(added.code, added.stderr).toBe(0);
    return t;
  }

  function track(engine: EngineProcess): EngineProcess {
    cleanups.push(() => engine.kill('SIGKILL'));
    return engine;
  }

  it('logs ingest.delivery_failed, with the code and the reply, when downstream refuses a delivery during LMTP (error for 5xx, warn for 4xx)', async () => {
    const t = await setup();
    const { lmtpSink } = t;
    const listed = await runCli(['lists', 'add', '--as', 'alice@example.test', 'white', 'bob@remote.test'], t.env);
    expect(listed.code, listed.stderr).toBe(0);
    const engine = track(await startEngineReady(t.env, ['--role', 'ingest']));

    lmtpSink.reply = () => Object.assign(new Error('5.1.1 user unknown'), { responseCode: 550 });
    const bounced = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
    expect(bounced.data?.[0]?.[1]).toBe(550);
    const error = await engine.waitForLog((l) => l.event === 'ingest.delivery_failed' && l.code === 550, 'the 5xx refusal logged');
    expect(error).toMatchObject({ level: 'error', rcpt: 'alice@example.test', code: 550 });
    expect(String(error.reply)).toContain('user unknown');
    expect(error.trace).toBeTruthy();

    lmtpSink.reply = () => Object.assign(new Error('4.2.2 over quota'), { responseCode: 452 });
    const deferred = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE.replace('<lunch-1@', '<lunch-2@'), { xforward: REMOTE_CLIENT });
    expect(deferred.data?.[0]?.[1]).toBe(451);
    const warn = await engine.waitForLog((l) => l.event === 'ingest.delivery_failed' && l.code === 452, 'the 4xx refusal logged');
    expect(warn).toMatchObject({ level: 'warn', rcpt: 'alice@example.test' });
  });

  it('exits 1, naming the ops endpoint, before any role listens for mail or runs a job when the ops port is taken', async () => {
    const t = await setup();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as net.AddressInfo).port;
    const engine = track(startEngineProcess({ ...t.env, CRGATE_OPS_LISTEN: `127.0.0.1:${port}` }));
    expect((await engine.exited).code).toBe(1);
    const failed = engine.logs.find((l) => l.event === 'engine.start_failed');
    expect(String(failed?.msg)).toMatch(/CRGATE_OPS_LISTEN.*EADDRINUSE/);
    // Not a moment of LMTP, web or worker before the exit: mail accepted then would meet a dying process.
    expect(engine.logs.map((l) => l.event).filter((e) => e === 'ingest.listening' || e === 'web.listening' || e === 'worker.started')).toEqual([]);
  });

  it('counts a challenge the relay refuses with 5xx as suppressed by CHALLENGE_REJECTED, and logs challenge.suppressed', async () => {
    const t = await setup();
    const { smtpSink } = t;
    smtpSink.reply = () => Object.assign(new Error('5.7.1 relaying denied'), { responseCode: 554 });
    const engine = track(await startEngineReady(t.env));
    const listening = await engine.waitForLog((l) => l.event === 'ops.listening', 'the ops endpoint');
    const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    const logged = await engine.waitForLog((l) => l.event === 'challenge.suppressed', 'the refused challenge logged');
    expect(logged).toMatchObject({ level: 'warn', reason: 'CHALLENGE_REJECTED', code: 554 });
    expect(logged.trace).toBeTruthy();
    const text = await (await fetch(`http://127.0.0.1:${listening.port}/metrics`)).text();
    expect(text).toMatch(/^crgate_challenges_total\{outcome="suppressed",reason="CHALLENGE_REJECTED"\} 1$/m);
    // What `crgate stats` reads from PostgreSQL says the same.
    const stats = await runCli(['stats', '--json'], t.env);
    expect(JSON.parse(stats.stdout).challenges).toEqual({ suppressed: 1 });
  });

  it('logs job.failed with retry: false when downstream refuses a release with 5xx (the copy is back in the quarantine, not retried)', async () => {
    const t = await setup();
    const engine = track(await startEngineReady(t.env));
    // Unauthenticated (no XFORWARD): held without a challenge.
    const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE);
    expect(r.data?.[0]?.[1]).toBe(250);
    const alice = (await findUserByAddress(t.db, 'alice@example.test'))!.id;
    const { rows } = await t.db.query<{ id: number }>(`SELECT id FROM message_recipients WHERE status = 'held'`);
    expect(rows).toHaveLength(1);
    t.lmtpSink.reply = () => Object.assign(new Error('5.2.2 mailbox over quota'), { responseCode: 552 });
    await applyQuarantineAction(t.db, alice, [rows[0]!.id], 'release');
    const failed = await engine.waitForLog((l) => l.event === 'job.failed' && l.queue === 'deliveries', 'the refused release logged');
    expect(failed).toMatchObject({ level: 'warn', retry: false });
    expect(String(failed.msg)).not.toContain('will retry');
  });

  it('is not ready (postgres: read-only) while PostgreSQL only takes reads, as the ingest then answers 451 to held mail', async () => {
    const t = await setup();
    const engine = track(await startEngineReady(t.env, ['--role', 'ingest']));
    const ops = `http://127.0.0.1:${(await engine.waitForLog((l) => l.event === 'ops.listening', 'the ops endpoint')).port}`;
    expect((await fetch(`${ops}/readyz`)).status).toBe(200);
    // What a failover to a standby looks like to the pool: every new connection refuses writes.
    await t.db.query(`ALTER DATABASE "${t.name}" SET default_transaction_read_only = on`);
    await t.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [t.name]);
    const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(451);
    const res = await fetch(`${ops}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { checks: Record<string, string> }).checks.postgres).toBe('read-only');
  });

  it('says the web role is not ready (web: stopping) from SIGTERM on, while a request in flight holds the stop', async () => {
    const t = await setup();
    const engine = track(await startEngineReady(t.env, ['--role', 'web']));
    const ops = `http://127.0.0.1:${(await engine.waitForLog((l) => l.event === 'ops.listening', 'the ops endpoint')).port}`;
    expect(((await (await fetch(`${ops}/readyz`)).json()) as { checks: Record<string, string> }).checks.web).toBe('ok');
    // A client still sending its form: the site finishes it before it stops (up to requestTimeout).
    const slow = net.connect(t.webPort, '127.0.0.1');
    cleanups.push(async () => slow.destroy());
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write('POST /signin/link HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\naddress=');
    await new Promise((resolve) => setTimeout(resolve, 200));
    engine.child.kill('SIGTERM');
    await engine.waitForLog((l) => l.event === 'engine.stopping', 'the stop');
    const res = await fetch(`${ops}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { checks: Record<string, string> }).checks.web).toBe('stopping');
    slow.destroy();
    expect((await engine.exited).code).toBe(0);
  });
});
