/**
 * What an operator watches: /metrics in Prometheus form (decisions, reasons, challenges, LMTP
 * latency, queue depths), /healthz and /readyz per process and role.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { addUser } from '@crgate/store';
import { createTestEnvironment, freePort, REMOTE_CLIENT, type TestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { startSink, waitFor, type Sink } from './helpers/sinks.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');

/** The value of one sample line of the exposition format, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('observability', () => {
  let t: TestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let proxy: TcpProxy;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let ops: string;

  beforeAll(async () => {
    lmtpSink = await startSink('lmtp');
    smtpSink = await startSink('smtp');
    proxy = await startTcpProxy(5432);
    t = await createTestEnvironment();
    Object.assign(t.env, {
      CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${lmtpSink.port}`,
      CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${smtpSink.port}`,
    });
    // Create the database directly, then run the engine through a proxy that can take PostgreSQL away.
    const direct = await startInProcess(t.env, ['ingest']);
    await addUser(direct.db, 'alice@example.test');
    await direct.stop();
    engine = await startInProcess({ ...t.env, DATABASE_URL: t.databaseUrl.replace(':5432/', `:${proxy.port}/`) });
    ops = `http://127.0.0.1:${engine.ops!.address.port}`;
  });

  afterAll(async () => {
    await engine?.stop();
    await proxy?.close();
    await lmtpSink?.close();
    await smtpSink?.close();
    await t?.cleanup();
  });

  it('counts decisions, reasons, LMTP latency and sent challenges', async () => {
    const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    await waitFor(() => smtpSink.messages.length === 1, 'the challenge');
    await waitFor(async () => sample(await (await fetch(`${ops}/metrics`)).text(), 'crgate_challenges_total', '{outcome="sent",reason=""}') === 1, 'the sent challenge counted');
    const text = await (await fetch(`${ops}/metrics`)).text();
    expect(sample(text, 'crgate_decisions_total', '{decision="challenge"}')).toBe(1);
    expect(sample(text, 'crgate_decision_reasons_total', '{reason="UNKNOWN_SENDER"}')).toBe(1);
    expect(sample(text, 'crgate_decision_reasons_total', '{reason="SPF_PASS"}')).toBe(1);
    expect(sample(text, 'crgate_lmtp_data_seconds_count')).toBe(1);
    expect(sample(text, 'crgate_queue_jobs', '{queue="challenges",state="failed"}')).toBe(0);
    expect(sample(text, 'crgate_outbox_rows')).toBe(0);
    expect(text).toMatch(/^crgate_process_cpu_seconds_total /m);
  });

  it('counts a confirmed challenge', async () => {
    const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(smtpSink.messages[0]!.raw.toString())![0];
    expect((await fetch(link, { method: 'POST' })).status).toBe(200);
    const text = await (await fetch(`${ops}/metrics`)).text();
    expect(sample(text, 'crgate_challenges_total', '{outcome="confirmed",reason=""}')).toBe(1);
  });

  it('counts a delivered message once', async () => {
    // bob confirmed just above, so he is now on alice's whitelist.
    const raw = FIXTURE.replace('<lunch-1@remote.test>', '<lunch-2@remote.test>');
    const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], raw, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    await waitFor(() => lmtpSink.messages.some((m) => m.raw.toString().includes('<lunch-2@remote.test>')), 'the delivery');
    const text = await (await fetch(`${ops}/metrics`)).text();
    expect(sample(text, 'crgate_decisions_total', '{decision="deliver"}')).toBe(1);
    expect(sample(text, 'crgate_decision_reasons_total', '{reason="SPF_PASS"}')).toBe(2);
  });

  it('counts a release that downstream refuses with 5xx as failed, not as a retry', async () => {
    const raw = FIXTURE.replaceAll('bob@remote.test', 'dave@remote.test').replace('<lunch-1@remote.test>', '<refused-1@remote.test>');
    const r = await pythonLmtpSend(t.lmtpPort, 'dave@remote.test', ['alice@example.test'], raw, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    await waitFor(() => smtpSink.messages.length === 2, 'the challenge to dave');
    lmtpSink.reply = () => Object.assign(new Error('5.1.1 mailbox unavailable'), { responseCode: 550 });
    try {
      const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(smtpSink.messages[1]!.raw.toString())![0];
      expect((await fetch(link, { method: 'POST' })).status).toBe(200);
      await waitFor(
        async () => sample(await (await fetch(`${ops}/metrics`)).text(), 'crgate_queue_jobs', '{queue="deliveries",state="failed"}') === 1,
        'the refused release failed in its queue',
      );
      const text = await (await fetch(`${ops}/metrics`)).text();
      expect(sample(text, 'crgate_deliveries_total', '{kind="release",result="failed"}')).toBe(1);
      expect(sample(text, 'crgate_deliveries_total', '{kind="release",result="retry"}')).toBeUndefined();
    } finally {
      lmtpSink.reply = () => true;
    }
  });

  it('answers /healthz while the process runs', async () => {
    const res = await fetch(`${ops}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers a HEAD probe of /healthz and /readyz as it answers GET, without a body', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await fetch(`${ops}${path}`, { method: 'HEAD' });
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe('');
    }
    expect((await fetch(`${ops}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('is ready when PostgreSQL, the ingest, the worker and the web site are', async () => {
    const res = await fetch(`${ops}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', worker: 'ok', web: 'ok', ingest: 'ok' } });
  });

  it('is not ready while PostgreSQL is away, and ready again after', async () => {
    await proxy.cut();
    const down = await fetch(`${ops}/readyz`);
    expect(down.status).toBe(503);
    expect(((await down.json()) as { checks: Record<string, string> }).checks.postgres).not.toBe('ok');
    await proxy.restore();
    await waitFor(async () => (await fetch(`${ops}/readyz`)).status === 200, 'ready again');
  });

  it('shows the outbox backlog in an ingest that runs without a worker, as the alert needs it there too', async () => {
    // The engine above runs a worker, whose relay takes a new outbox row at once (it has the NOTIFY):
    // the backlog would be gone, or go between the count and the scrape. PostgreSQL is taken from that
    // engine (it reaches it through the proxy), so the row waits; the ingest here reaches it directly.
    await proxy.cut();
    const ingestOnly = await startInProcess({ ...t.env, CRGATE_LMTP_LISTEN: `127.0.0.1:${await freePort()}` }, ['ingest']);
    try {
      const r = await pythonLmtpSend(ingestOnly.config.lmtp.listen.port, 'carol@remote.test', ['alice@example.test'], FIXTURE.replaceAll('bob@remote.test', 'carol@remote.test'), {
        xforward: REMOTE_CLIENT,
      });
      expect(r.data?.[0]?.[1]).toBe(250);
      const backlog = Number((await t.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n);
      expect(backlog).toBeGreaterThan(0);
      const text = await (await fetch(`http://127.0.0.1:${ingestOnly.ops!.address.port}/metrics`)).text();
      expect(sample(text, 'crgate_outbox_rows')).toBe(backlog);
    } finally {
      await ingestOnly.stop();
      await proxy.restore();
    }
    // The engine above relays the row once it has PostgreSQL again: the outbox is left as it was found.
    await waitFor(async () => (await t.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n === 0, 'the backlog relayed');
  });

  it('answers /readyz (not ready, naming the worker) and /metrics within seconds while Redis accepts connections but never answers', async () => {
    // A Redis that hangs (stopped with SIGSTOP, a full disk, a half-open network path): TCP connects, no reply ever comes.
    const hung = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      hung.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const noAnswer = await startInProcess({ ...t.env, REDIS_URL: `redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}` }, ['worker']);
    try {
      const at = `http://127.0.0.1:${noAnswer.ops!.address.port}`;
      let started = Date.now();
      const res = await fetch(`${at}/readyz`, { signal: AbortSignal.timeout(10_000) });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { checks: Record<string, string> };
      expect(body.checks.postgres).toBe('ok');
      expect(body.checks.worker).toMatch(/no answer/);
      started = Date.now();
      const metrics = await fetch(`${at}/metrics`, { signal: AbortSignal.timeout(10_000) });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(metrics.status).toBe(200);
      // The backlog alert still has its number while the queues cannot be read.
      expect(sample(await metrics.text(), 'crgate_outbox_rows')).toBeTypeOf('number');
    } finally {
      for (const s of hung) s.destroy();
      silent.close();
      await noAnswer.stop();
    }
  });

  it('starts, and says it is not ready, while Redis is away; and stops promptly, also with mail it took meanwhile in its outbox', async () => {
    const port = await freePort();
    const started = Date.now();
    const noRedis = await startInProcess({ ...t.env, REDIS_URL: `redis://127.0.0.1:${port}`, CRGATE_LMTP_LISTEN: `127.0.0.1:${await freePort()}` }, ['ingest', 'worker']);
    try {
      expect(Date.now() - started).toBeLessThan(15_000);
      const res = await fetch(`http://127.0.0.1:${noRedis.ops!.address.port}/readyz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { checks: Record<string, string> }).checks.worker).not.toBe('ok');
      // Its relay holds the challenge's outbox row, waiting for Redis (the engine above, which could take
      // the row, has no PostgreSQL meanwhile).
      await proxy.cut();
      const r = await pythonLmtpSend(noRedis.config.lmtp.listen.port, 'dora@remote.test', ['alice@example.test'], FIXTURE.replaceAll('bob@remote.test', 'dora@remote.test'), {
        xforward: REMOTE_CLIENT,
      });
      expect(r.data?.[0]?.[1]).toBe(250);
    } finally {
      const stopping = Date.now();
      await noRedis.stop();
      expect(Date.now() - stopping).toBeLessThan(15_000);
      await proxy.restore();
    }
    // The row stays for a relay that reaches Redis: the engine above relays it.
    await waitFor(async () => (await t.db.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n === 0, 'the row relayed after the stop');
  });
});
