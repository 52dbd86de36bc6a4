/**
 * A flood of uncertain mail: 1,000 messages from 100 senders to 10 recipients, with two worker
 * processes sending challenges side by side. No more challenges go out than the limits allow — one per
 * (sender, recipient), at most perSenderPerHour per sender, at most globalPerHour in all — and none
 * twice: the limits hold across processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser } from '@crgate/store';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, startSink, waitFor, type Sink } from './helpers/sinks.js';

const SENDERS = 100;
const RECIPIENTS = 10;
const PER_SENDER = 4;
const GLOBAL = 300;

describe('a flood of uncertain mail', () => {
  let t: TestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let secondWorker: Awaited<ReturnType<typeof startInProcess>>;
  const recipients = Array.from({ length: RECIPIENTS }, (_v, i) => `user${i}@example.test`);

  beforeAll(async () => {
    lmtpSink = await startSink('lmtp');
    smtpSink = await startSink('smtp');
    t = await createTestEnvironment({
      CRGATE_CHALLENGE_PER_SENDER_PER_HOUR: String(PER_SENDER),
      CRGATE_CHALLENGE_GLOBAL_PER_HOUR: String(GLOBAL),
      // The flood is about limits; SPF evidence is covered elsewhere.
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      CRGATE_WORKER_CONCURRENCY: '16',
    });
    Object.assign(t.env, { CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${lmtpSink.port}`, CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${smtpSink.port}` });
    engine = await startInProcess(t.env);
    secondWorker = await startInProcess(t.env, ['worker']);
    for (const r of recipients) await addUser(engine.db, r);
  });

  afterAll(async () => {
    await secondWorker?.stop();
    await engine?.stop();
    await lmtpSink?.close();
    await smtpSink?.close();
    await t?.cleanup();
  });

  it('sends no more challenges than the limits allow, and none twice', async () => {
    const jobs: Array<{ sender: string; rcpt: string; n: number }> = [];
    for (let s = 0; s < SENDERS; s++) for (let r = 0; r < RECIPIENTS; r++) jobs.push({ sender: `s${s}@flood${s}.test`, rcpt: recipients[r]!, n: s * RECIPIENTS + r });
    // Ten MTA connections at a time, as a busy Postfix would open.
    let next = 0;
    const codes: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < jobs.length) {
          const { sender, rcpt, n } = jobs[next++]!;
          const raw = `From: ${sender}\r\nTo: ${rcpt}\r\nSubject: offer ${n}\r\nMessage-ID: <flood-${n}@test>\r\n\r\nHello ${n}.\r\n`;
          codes.push((await lmtpSend(t.lmtpPort, sender, [rcpt], raw))[0]!.code);
        }
      }),
    );
    expect(codes.filter((c) => c === 250)).toHaveLength(SENDERS * RECIPIENTS);

    await waitFor(
      async () => (await t.db.query(`SELECT count(*)::int AS n FROM challenges WHERE status = 'queued'`)).rows[0].n === 0,
      'every challenge sent or stopped',
      120_000,
    );
    await sleep(1000);

    const sent = smtpSink.messages;
    // Both worker processes sent challenges, and together no more than the cap.
    const sentBy = async (e: typeof engine) =>
      (await e.metrics.challenges.get()).values.filter((v) => v.labels.outcome === 'sent').reduce((n, v) => n + v.value, 0);
    const [first, second] = [await sentBy(engine), await sentBy(secondWorker)];
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(0);
    expect(first + second).toBe(GLOBAL);
    expect(sent.length).toBeLessThanOrEqual(GLOBAL);
    expect(sent.length).toBe(GLOBAL); // 100 senders × 4 allowed = 400 > 300: the global cap is what stops them
    const pairs = new Set<string>();
    const perSender = new Map<string, number>();
    for (const m of sent) {
      const to = m.rcptTo[0]!;
      const recipient = /you wrote to (\S+?)\./.exec(m.raw.toString('utf8'))![1]!;
      const pair = `${to} -> ${recipient}`;
      expect(pairs.has(pair), `duplicate challenge ${pair}`).toBe(false);
      pairs.add(pair);
      perSender.set(to, (perSender.get(to) ?? 0) + 1);
    }
    expect(Math.max(...perSender.values())).toBeLessThanOrEqual(PER_SENDER);

    const { rows } = await t.db.query(
      `SELECT status, count(*)::int AS n FROM challenges GROUP BY status ORDER BY status`,
    );
    expect(rows).toEqual([
      { status: 'sent', n: GLOBAL },
      { status: 'suppressed', n: SENDERS * RECIPIENTS - GLOBAL },
    ]);
    // Every held copy whose challenge was stopped says which limit stopped it.
    const stopped = await t.db.query(
      `SELECT count(*)::int AS n FROM message_recipients
        WHERE decision = 'quarantine' AND (reasons @> '[{"symbol":"RATE_LIMIT_SENDER"}]' OR reasons @> '[{"symbol":"RATE_LIMIT_GLOBAL"}]')`,
    );
    expect(stopped.rows[0].n).toBe(SENDERS * RECIPIENTS - GLOBAL);
  });
});
