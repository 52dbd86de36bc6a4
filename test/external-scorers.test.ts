/**
 * The optional external scorers, against the real daemons (Debian's spamd and rspamd, started with
 * private configurations by test/helpers/scorers.ts): the protocol clients read their answers, and the
 * ingest acts on their votes as docs/classifier.md says — and decides without them when they are away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { askRspamd, askSpamd } from '@crgate/ingest';
import { addUser } from '@crgate/store';
import { freePort, REMOTE_CLIENT, createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { GTUBE, startRspamd, startSpamd, type Daemon } from './helpers/scorers.js';
import type { Sink } from './helpers/sinks.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
const WITH_GTUBE = FIXTURE.replace('Subject: Lunch on Thursday?', 'Subject: Test pattern').trimEnd() + `\n\n${GTUBE}\n`;
const envelope = { mailFrom: 'bob@remote.test', recipients: ['alice@example.test'], clientAddress: REMOTE_CLIENT.addr, clientHelo: REMOTE_CLIENT.helo };

describe('external scorers', () => {
  let spamd: Daemon;
  let rspamd: Daemon;

  beforeAll(async () => {
    [spamd, rspamd] = await Promise.all([startSpamd(), startRspamd()]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([spamd?.stop(), rspamd?.stop()]);
  });

  describe('the spamd client', () => {
    it("reads SpamAssassin's score, threshold and rules", async () => {
      const s = await askSpamd({ host: '127.0.0.1', port: spamd.port }, Buffer.from(WITH_GTUBE), 20_000);
      expect(s).toMatchObject({ scorer: 'spamassassin', spam: true, threshold: 5 });
      expect(s.score).toBeGreaterThanOrEqual(1000);
      expect(s.symbols).toContain('GTUBE');
    });

    it('gets a not-spam answer for an ordinary note', async () => {
      const s = await askSpamd({ host: '127.0.0.1', port: spamd.port }, Buffer.from(FIXTURE), 20_000);
      expect(s.spam).toBe(false);
      expect(s.score).toBeLessThan(5);
    });

    it('fails with a clear error when spamd is not there', async () => {
      const port = await freePort();
      await expect(askSpamd({ host: '127.0.0.1', port }, Buffer.from(FIXTURE), 2000)).rejects.toThrow(/^spamd 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    });
  });

  describe('the rspamd client', () => {
    it("reads rspamd's reject of the test pattern", async () => {
      const s = await askRspamd(rspamd.address, Buffer.from(WITH_GTUBE), envelope, 20_000);
      expect(s).toMatchObject({ scorer: 'rspamd', spam: true, action: 'reject' });
      expect(s.symbols).toContain('GTUBE');
    });

    it('gets a not-spam answer for an ordinary note', async () => {
      const s = await askRspamd(rspamd.address, Buffer.from(FIXTURE), envelope, 20_000);
      expect(s.spam).toBe(false);
      expect(s.action).not.toBe('reject');
    });
  });

  describe('in the ingest', () => {
    let t: MailTestEnvironment;
    let lmtpSink: Sink;
    let smtpSink: Sink;
    let engine: Awaited<ReturnType<typeof startInProcess>> | undefined;

    const lastDecision = async () =>
      (await t.db.query(`SELECT decision, reasons FROM message_recipients ORDER BY id DESC LIMIT 1`)).rows[0] as { decision: string; reasons: Array<{ symbol: string; detail: string }> };

    beforeAll(async () => {
      t = await createMailTestEnvironment({ CRGATE_SCORER_TIMEOUT_MS: '20000' });
      ({ lmtpSink, smtpSink } = t);
    });

    afterAll(async () => {
      await engine?.stop();
      await t?.cleanup();
    });

    async function restart(env: Record<string, string>): Promise<void> {
      await engine?.stop();
      engine = await startInProcess({ ...t.env, ...env }, ['ingest']);
      await addUser(engine.db, 'alice@example.test').catch(() => undefined);
    }

    it('discards what both scorers call spam, with their votes as reasons, while our model is untrained', async () => {
      await restart({ CRGATE_SPAMD: spamd.address, CRGATE_RSPAMD_URL: rspamd.address });
      const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], WITH_GTUBE, { xforward: REMOTE_CLIENT });
      expect(r.data?.[0]?.[1]).toBe(250);
      const d = await lastDecision();
      expect(d.decision).toBe('discard');
      const votes = d.reasons.filter((x) => x.symbol === 'SCORER_SPAM').map((x) => x.detail);
      expect(votes).toEqual([expect.stringMatching(/^spamassassin \d+\.\d\/7\.5: .*GTUBE/), expect.stringMatching(/^rspamd \d+\.\d\/\d+\.\d \(reject\)/)]);
      expect(lmtpSink.messages).toHaveLength(0);
    });

    it('leaves an ordinary note to the challenge rules when neither scorer calls it spam', async () => {
      const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
      expect(r.data?.[0]?.[1]).toBe(250);
      const d = await lastDecision();
      expect(d.decision).toBe('challenge');
      expect(d.reasons.map((x) => x.symbol)).not.toContain('SCORER_SPAM');
    });

    it('decides without a scorer that is down, and answers 250, not 4xx', async () => {
      await restart({ CRGATE_SPAMD: `127.0.0.1:${await freePort()}`, CRGATE_RSPAMD_URL: `http://127.0.0.1:${await freePort()}` });
      const r = await pythonLmtpSend(t.lmtpPort, 'carol@remote.test', ['alice@example.test'], WITH_GTUBE.replace(/bob@/g, 'carol@'), { xforward: REMOTE_CLIENT });
      expect(r.data?.[0]?.[1]).toBe(250);
      const d = await lastDecision();
      expect(d.reasons.map((x) => x.symbol).filter((s) => s.startsWith('SCORER_'))).toEqual([]);
      expect(d.decision).toBe('challenge');
    });
  });
});
