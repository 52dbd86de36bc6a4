/**
 * `crgate queue retry` after a job ran out of retries. The worker's give-up path has already changed
 * the work's row by then: a challenge is suppressed as undeliverable, a release is held again. Retrying
 * the job alone would find nothing to do; the command puts a challenge whose link still lives back in
 * the queue, and says of a release that its recipient releases it again from the site.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, applyQuarantineAction, findUserByAddress } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { runCli } from './helpers/engine-process.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor } from './helpers/sinks.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

describe('crgate queue retry', { timeout: 180_000 }, () => {
  let t: MailTestEnvironment;
  let relay: TcpProxy;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let sent = 0;

  /** A message from `sender` to alice, held and challenged; returns its copy's id. */
  async function challenged(sender: string): Promise<number> {
    const raw = `From: ${sender}\r\nTo: alice@example.test\r\nSubject: hello ${++sent}\r\nMessage-ID: <retry-${sent}@remote.test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw))[0]!.code).toBe(250);
    const { rows } = await t.db.query<{ id: number }>(`SELECT id FROM message_recipients WHERE sender = $1`, [sender]);
    return rows[0]!.id;
  }

  beforeAll(async () => {
    // 12 attempts from 2 ms doubling: a challenge gives up within seconds.
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false', CRGATE_WORKER_RETRY_DELAY_MS: '2' });
    // The relay as crgate sees it: a port that can be closed and opened again.
    relay = await startTcpProxy(t.smtpSink.port);
    t.env.CRGATE_SMTP_RELAY = `smtp://127.0.0.1:${relay.port}`;
    engine = await startInProcess(t.env, ['ingest', 'worker']);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await relay?.close();
    await t?.cleanup();
  });

  it('sends a challenge that was given up as undeliverable once the relay is back', async () => {
    await relay.cut();
    const copy = await challenged('patient@remote.test');
    await waitFor(
      async () => (await t.db.query(`SELECT 1 FROM challenges WHERE sender = 'patient@remote.test' AND status_reason = 'CHALLENGE_UNDELIVERABLE'`)).rowCount === 1,
      'the challenge to be given up',
      60_000,
    );
    await relay.restore();

    const r = await runCli(['queue', 'retry'], t.env);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(() => t.smtpSink.messages.some((m) => m.rcptTo.includes('patient@remote.test')), 'the challenge at the relay', 30_000);
    expect(r.stdout).toContain('retried 1 failed job(s)');
    expect(r.stdout).toContain('1 challenge(s) given up as undeliverable are queued again');
    // The relay's 250 comes before the worker records the challenge as sent.
    await waitFor(
      async () => (await t.db.query(`SELECT status FROM challenges WHERE sender = 'patient@remote.test'`)).rows[0]?.status === 'sent',
      'the challenge recorded as sent',
    );
    // The held copy waits on the challenge again, no longer quarantined as undeliverable.
    const { rows } = await t.db.query(`SELECT decision, reasons FROM message_recipients WHERE id = $1`, [copy]);
    expect(rows[0].decision).toBe('challenge');
    expect(rows[0].reasons.map((x: { symbol: string }) => x.symbol)).not.toContain('CHALLENGE_UNDELIVERABLE');
  });

  it('does not retry a release that went back to the quarantine, and says the recipient releases it again', async () => {
    const copy = await challenged('refused@remote.test');
    await waitFor(() => t.smtpSink.messages.some((m) => m.rcptTo.includes('refused@remote.test')), 'the challenge at the relay');
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!.id;
    t.lmtpSink.reply = () => Object.assign(new Error('Mailbox over quota'), { responseCode: 552 });
    try {
      await applyQuarantineAction(engine.db, alice, [copy], 'release');
      await waitFor(
        async () => (await t.db.query(`SELECT 1 FROM message_recipients WHERE id = $1 AND status = 'held'`, [copy])).rowCount === 1,
        'the release to be refused',
      );
    } finally {
      t.lmtpSink.reply = () => true;
    }
    const before = t.lmtpSink.messages.length;

    const r = await runCli(['queue', 'retry', '--queue', 'deliveries'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('retried 0 failed job(s)');
    expect(r.stdout).toContain('not retried: 1 release(s) went back to the quarantine (RELEASE_FAILED); the recipient releases them again from the site');
    await sleep(1000);
    expect(t.lmtpSink.messages.length).toBe(before);
    expect((await t.db.query(`SELECT status FROM message_recipients WHERE id = $1`, [copy])).rows).toEqual([{ status: 'held' }]);
  });
});
