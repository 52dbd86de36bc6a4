/**
 * The machine mail of test/machine-mail.test.ts through the whole ingest: over LMTP with XFORWARD, a
 * DNS whose SPF records let each sending client pass (as the real senders' records do), and the
 * worker running. None of it may reach the relay as a challenge; a person's mail still does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { addUser } from '@crgate/store';
import { createMailTestEnvironment, REMOTE_CLIENT, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor } from './helpers/sinks.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('authenticated machine mail through the ingest', () => {
  let t: MailTestEnvironment;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    t = await createMailTestEnvironment();
    Object.assign(t.dns.records, {
      'microsoft.com': { MX: [{ exchange: 'mx.microsoft.com', priority: 10 }], TXT: ['v=spf1 ip4:40.107.0.0/16 -all'] },
      'corp.mail.ru': { MX: [{ exchange: 'mx.corp.mail.ru', priority: 10 }], TXT: ['v=spf1 ip4:94.100.180.0/24 -all'] },
      'pm-bounces.shop.test': { MX: [{ exchange: 'mx.pm.test', priority: 10 }], TXT: ['v=spf1 ip4:104.245.209.0/24 -all'] },
      'bounces.shop.test': { MX: [{ exchange: 'mx.sp.test', priority: 10 }], TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] },
      // Our own domain's SPF includes a shared provider's range, as `include:` of a big provider does.
      'example.test': { MX: [{ exchange: 'mx.example.test', priority: 10 }], TXT: ['v=spf1 ip4:198.51.100.0/24 -all'] },
    });
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  async function decisionOf(messageId: string) {
    const { rows } = await t.db.query(
      `SELECT r.decision, r.reasons FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = $1`,
      [messageId],
    );
    return { decision: rows[0].decision as string, symbols: (rows[0].reasons as Array<{ symbol: string }>).map((r) => r.symbol) };
  }

  const cases: Array<[string, string, string, string, string]> = [
    ['machine-mail/dmarc-aggregate-microsoft.eml', 'dmarcreport@microsoft.com', '40.107.1.2', '<0cecd7bec035483e947d90423518d007@microsoft.com>', 'BOUNCE_SUBJECT'],
    ['machine-mail/dmarc-aggregate-mailru.eml', 'dmarc_support@corp.mail.ru', '94.100.180.31', '<74120183223942353421680393600@corp.mail.ru>', 'BOUNCE_SUBJECT'],
    ['machine-mail/postmark-transactional.eml', 'pm_bounces@pm-bounces.shop.test', '104.245.209.212', '<5b9e2c1a-7f3d-4e51-9a0b-2d6c8e4f1a37@mtasv.net>', 'NOREPLY_SENDER'],
    ['machine-mail/sparkpost-transactional.eml', 'msprvs1=20676xgzi92p-=bounces-1898-1322@bounces.shop.test', '192.0.2.25', '<6a.7b.12345.ABCDEF01@mta1.bounces.shop.test>', 'NOREPLY_SENDER'],
    ['machine-mail/self-addressed.eml', 'alice@example.test', '198.51.100.77', '<self-4711@mail.example.test>', 'SENDER_IS_RECIPIENT'],
  ];

  for (const [file, sender, addr, messageId, symbol] of cases) {
    it(`holds ${file} without a challenge (${symbol}), though SPF passes`, async () => {
      const r = await pythonLmtpSend(t.lmtpPort, sender, ['alice@example.test'], fixture(file), { xforward: { addr, helo: 'mta.sender.test' } });
      expect(r.data?.[0]?.[1]).toBe(250);
      const d = await decisionOf(messageId);
      expect(d.symbols).toContain('SPF_PASS');
      expect(d.symbols).toContain(symbol);
      expect(d.decision).toBe('quarantine');
    });
  }

  it('sent no challenge for any of them, and still challenges a person', async () => {
    await sleep(1500);
    expect(t.smtpSink.messages).toEqual([]);
    const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], fixture('bob-to-alice.eml'), { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    await waitFor(() => t.smtpSink.messages.length === 1, 'the challenge to bob');
    expect(t.smtpSink.messages[0]!.rcptTo).toEqual(['bob@remote.test']);
  });
});
