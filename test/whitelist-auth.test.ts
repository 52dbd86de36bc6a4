/**
 * Whitelist entries remember how their sender authenticated. A sender who confirmed a challenge with
 * DKIM-signed mail is delivered when later mail carries that signature, and held (not challenged) when
 * somebody claims the address without it. Real DKIM signatures (nodemailer's signer) verified against
 * keys published by the test DNS server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { text } from 'node:stream/consumers';
import DKIM from 'nodemailer/lib/dkim';
import { addUser } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { waitFor, type Sink } from './helpers/sinks.js';

const CLIENT = { addr: '198.51.100.30', helo: 'mx.signed.test' };
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicDer = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

function message(id: string): string {
  return `From: Dee <dee@signed.test>\r\nTo: alice@example.test\r\nSubject: Hello ${id}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${id}@signed.test>\r\n\r\nHello Alice, this is ${id}.\r\n`;
}

async function signed(id: string): Promise<string> {
  const signer = new DKIM({ domainName: 'signed.test', keySelector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
  return text(signer.sign(message(id)));
}

describe('whitelist entries bound to authentication', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  async function decisionOf(id: string) {
    const { rows } = await t.db.query(
      `SELECT r.decision, r.reasons FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = $1`,
      [`<${id}@signed.test>`],
    );
    return { decision: rows[0].decision as string, symbols: rows[0].reasons.map((r: { symbol: string }) => r.symbol) as string[] };
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment();
    ({ lmtpSink, smtpSink } = t);
    Object.assign(t.dns.records, {
      // SPF passes for the client in every case: only the DKIM signature tells the messages apart.
      'signed.test': { MX: [{ exchange: 'mx.signed.test', priority: 10 }], TXT: [`v=spf1 ip4:${CLIENT.addr} -all`] },
      'sel._domainkey.signed.test': { TXT: [`v=DKIM1; k=rsa; p=${publicDer}`] },
    });
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('records the DKIM domain of the confirmed mail on the whitelist entry', async () => {
    const r = await pythonLmtpSend(t.lmtpPort, 'dee@signed.test', ['alice@example.test'], await signed('first'), { xforward: CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    expect((await decisionOf('first')).symbols).toContain('DKIM_PASS');
    await waitFor(() => smtpSink.messages.length === 1, 'the challenge');
    const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(smtpSink.messages[0]!.raw.toString())![0];
    expect((await fetch(link, { method: 'POST' })).status).toBe(200);
    const { rows } = await t.db.query(`SELECT value, source, auth FROM list_entries WHERE list = 'white'`);
    expect(rows).toEqual([{ value: 'dee@signed.test', source: 'confirmed', auth: { dkimDomains: ['signed.test'] } }]);
  });

  it('delivers later mail that carries the same signature', async () => {
    await pythonLmtpSend(t.lmtpPort, 'dee@signed.test', ['alice@example.test'], await signed('second'), { xforward: CLIENT });
    expect((await decisionOf('second')).decision).toBe('deliver');
  });

  it('holds, without a challenge, mail that claims the address without the signature', async () => {
    const challenges = smtpSink.messages.length;
    await pythonLmtpSend(t.lmtpPort, 'dee@signed.test', ['alice@example.test'], message('unsigned'), { xforward: CLIENT });
    const d = await decisionOf('unsigned');
    expect(d.decision).toBe('quarantine');
    expect(d.symbols).toContain('WHITELIST_FORGED');
    expect(smtpSink.messages).toHaveLength(challenges);
  });
});
