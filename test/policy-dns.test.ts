/**
 * The policy against a real DNS server on loopback: SPF and DMARC decide whether a sender may be
 * challenged, DNS trouble never counts as a failure, and an unroutable sender domain is not challenged.
 * Messages arrive over LMTP with XFORWARD, as Postfix sends them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import DKIM from 'nodemailer/lib/dkim';
import { addListEntry, addUser, findUserByAddress } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor, type Sink } from './helpers/sinks.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
const from = (sender: string, id: string) =>
  FIXTURE.replace('From: Bob Remote <bob@remote.test>', `From: ${sender}`).replace('<lunch-1@remote.test>', `<${id}@test>`);

describe('policy with DNS', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  async function decisionOf(messageId: string) {
    const { rows } = await t.db.query(
      `SELECT r.decision, r.reasons FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = $1`,
      [`<${messageId}@test>`],
    );
    return { decision: rows[0].decision as string, symbols: (rows[0].reasons as Array<{ symbol: string }>).map((r) => r.symbol) };
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment();
    ({ lmtpSink, smtpSink } = t);
    Object.assign(t.dns.records, {
      'strict.test': { MX: [{ exchange: 'mx.strict.test', priority: 10 }], TXT: ['v=spf1 ip4:198.51.100.10 -all'] },
      '_dmarc.strict.test': { TXT: ['v=DMARC1; p=reject'] },
      'slow.test': { TIMEOUT: true },
      '_dmarc.slow.test': { TIMEOUT: true },
      'broken.test': { SERVFAIL: true },
      // The domain's own records time out, its DMARC record answers: mailauth would call that a DMARC fail.
      'slowspf.test': { TIMEOUT: true },
      '_dmarc.slowspf.test': { TXT: ['v=DMARC1; p=reject'] },
      // Signed by its own domain, whose SPF says nothing either way: the DKIM key lookup times out.
      'slowkey.test': { MX: [{ exchange: 'mx.slowkey.test', priority: 10 }], TXT: ['v=spf1 ?all'] },
      'sel._domainkey.slowkey.test': { TIMEOUT: true },
      '_dmarc.slowkey.test': { TXT: ['v=DMARC1; p=reject'] },
    });
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('never challenges a sender whose SPF (-all) and DMARC (p=reject) the client fails', async () => {
    const r = await pythonLmtpSend(t.lmtpPort, 'ceo@strict.test', ['alice@example.test'], from('ceo@strict.test', 'forged'), {
      xforward: { addr: '192.0.2.99', helo: 'bad.example' },
    });
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('forged');
    expect(d.decision).toBe('quarantine');
    expect(d.symbols).toEqual(expect.arrayContaining(['SPF_FAIL', 'DMARC_FAIL']));
    await sleep(1000);
    expect(smtpSink.messages).toHaveLength(0);
  });

  it('challenges the same content from an address its SPF allows', async () => {
    const r = await pythonLmtpSend(t.lmtpPort, 'ceo@strict.test', ['alice@example.test'], from('ceo@strict.test', 'genuine'), {
      xforward: { addr: '198.51.100.10', helo: 'mx.strict.test' },
    });
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('genuine');
    expect(d.decision).toBe('challenge');
    expect(d.symbols).toEqual(expect.arrayContaining(['SPF_PASS', 'DMARC_PASS', 'UNKNOWN_SENDER']));
    await waitFor(() => smtpSink.messages.length === 1, 'the challenge');
    expect(smtpSink.messages[0]!.rcptTo).toEqual(['ceo@strict.test']);
  });

  it('treats a DNS timeout as unknown, not as a failure, and does not challenge without evidence', async () => {
    const r = await pythonLmtpSend(t.lmtpPort, 'someone@slow.test', ['alice@example.test'], from('someone@slow.test', 'slow'), {
      xforward: { addr: '192.0.2.50', helo: 'mx.slow.test' },
    });
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('slow');
    expect(d.decision).toBe('quarantine');
    expect(d.symbols).toContain('SPF_TEMPERROR');
    expect(d.symbols).not.toContain('SPF_FAIL');
    expect(d.symbols).not.toContain('DMARC_FAIL');
    expect(d.symbols).not.toContain('SENDER_DOMAIN_UNROUTABLE');
    expect(d.symbols).toContain('SENDER_UNVERIFIED');
  });

  it('delivers a whitelisted sender whose SPF lookup times out: DMARC is a temperror then, not a fail', async () => {
    const user = await findUserByAddress(engine.db, 'alice@example.test');
    await addListEntry(engine.db, { userId: user!.id, list: 'white', kind: 'address', value: 'friend@slowspf.test', source: 'manual' });
    const before = lmtpSink.messages.length;
    const r = await pythonLmtpSend(t.lmtpPort, 'friend@slowspf.test', ['alice@example.test'], from('friend@slowspf.test', 'slowspf'), {
      xforward: { addr: '192.0.2.53', helo: 'mx.slowspf.test' },
    });
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('slowspf');
    expect(d.symbols).toContain('SPF_TEMPERROR');
    expect(d.symbols).toContain('DMARC_TEMPERROR');
    expect(d.symbols).not.toContain('DMARC_FAIL');
    expect(d.symbols).not.toContain('WHITELIST_FORGED');
    expect(d.decision).toBe('deliver');
    expect(lmtpSink.messages).toHaveLength(before + 1);
  });

  it('does not take the client for SPF from a Received header the sender wrote, when the MTA forwarded none', async () => {
    // What a local submission looks like: Postfix's pickup header on top (no client), the sender's own below.
    const raw = from('boss@strict.test', 'received-forged')
      .replace(
        /^/,
        'Received: by mx.example.test (Postfix, from userid 33) id 4AbC; Wed,  2 Dec 2026 10:00:00 +0000 (UTC)\r\n' +
          'Received: from mx.strict.test (mx.strict.test [198.51.100.10]) by relay.strict.test with ESMTP id 1; Wed,  2 Dec 2026 09:59:59 +0000\r\n',
      );
    const r = await pythonLmtpSend(t.lmtpPort, 'boss@strict.test', ['alice@example.test'], raw);
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('received-forged');
    expect(d.symbols).not.toContain('SPF_PASS');
    expect(d.decision).not.toBe('challenge');
    expect(smtpSink.messages.filter((m) => m.rcptTo.includes('boss@strict.test'))).toEqual([]);
  });

  it('delivers a whitelisted sender whose DKIM key lookup times out: DMARC is a temperror then, not a fail', async () => {
    const user = await findUserByAddress(engine.db, 'alice@example.test');
    await addListEntry(engine.db, { userId: user!.id, list: 'white', kind: 'address', value: 'news@slowkey.test', source: 'manual' });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const signer = new DKIM({ domainName: 'slowkey.test', keySelector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    const raw = await text(signer.sign(from('news@slowkey.test', 'slowkey')));
    const r = await pythonLmtpSend(t.lmtpPort, 'news@slowkey.test', ['alice@example.test'], raw, { xforward: { addr: '198.51.100.60', helo: 'mx.slowkey.test' } });
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('slowkey');
    expect(d.symbols).toContain('DKIM_TEMPERROR');
    expect(d.symbols).toContain('DMARC_TEMPERROR');
    expect(d.symbols).not.toContain('WHITELIST_FORGED');
    expect(d.decision).toBe('deliver');
  });

  it('treats SERVFAIL as unknown, not as a failure', async () => {
    await pythonLmtpSend(t.lmtpPort, 'x@broken.test', ['alice@example.test'], from('x@broken.test', 'servfail'), {
      xforward: { addr: '192.0.2.51', helo: 'mx.broken.test' },
    });
    const d = await decisionOf('servfail');
    expect(d.symbols).not.toContain('SPF_FAIL');
    expect(d.symbols).not.toContain('SENDER_DOMAIN_UNROUTABLE');
  });

  it('does not challenge a sender whose domain has no MX and no address', async () => {
    await pythonLmtpSend(t.lmtpPort, 'ghost@nowhere.invalid', ['alice@example.test'], from('ghost@nowhere.invalid', 'ghost'), {
      xforward: { addr: '192.0.2.52', helo: 'x' },
    });
    const d = await decisionOf('ghost');
    expect(d.decision).toBe('quarantine');
    expect(d.symbols).toContain('SENDER_DOMAIN_UNROUTABLE');
  });

  it('adds Authentication-Results to delivered mail', async () => {
    const user = await findUserByAddress(engine.db, 'alice@example.test');
    await addListEntry(engine.db, { userId: user!.id, list: 'white', kind: 'domain', value: 'strict.test', source: 'manual' });
    const r = await pythonLmtpSend(t.lmtpPort, 'ceo@strict.test', ['alice@example.test'], from('ceo@strict.test', 'delivered'), {
      xforward: { addr: '198.51.100.10', helo: 'mx.strict.test' },
    });
    expect(r.data?.[0]?.[1]).toBe(250);
    const raw = lmtpSink.messages.at(-1)!.raw.toString('utf8');
    expect(raw).toMatch(/^Authentication-Results: crgate\.localdomain;/m);
    expect(raw).toMatch(/spf=pass/);
    expect(raw).toMatch(/dmarc=pass/);
  });

  it('does not deliver a whitelisted domain when the message is forged', async () => {
    const before = lmtpSink.messages.length;
    await pythonLmtpSend(t.lmtpPort, 'ceo@strict.test', ['alice@example.test'], from('ceo@strict.test', 'forged-white'), {
      xforward: { addr: '192.0.2.99', helo: 'bad.example' },
    });
    const d = await decisionOf('forged-white');
    expect(d.decision).toBe('quarantine');
    expect(d.symbols).toContain('WHITELIST_FORGED');
    expect(lmtpSink.messages).toHaveLength(before);
  });
});
