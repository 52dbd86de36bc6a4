/**
 * Internationalised domains (IDNA) over LMTP. The MTA passes `xn--bcher-kva.test` (or, with SMTPUTF8,
 * `bücher.test`); smtp-server turns either into Unicode before crgate sees it. Users, list entries,
 * SPF and the From: field must all read them as one domain, and what crgate sends on (the delivery, a
 * challenge) carries the A-labels, which need no SMTPUTF8.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addListEntry, addUser, findUserByAddress } from '@crgate/store';
import { createMailTestEnvironment, REMOTE_CLIENT, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { waitFor } from './helpers/sinks.js';
import { rawLmtp } from './helpers/lmtp-client.js';

const IDN = 'xn--bcher-kva.test';
let sent = 0;

function mail(from: string, to: string): string {
  return (
    `From: Bob <${from}>\r\nTo: <${to}>\r\nSubject: Bücher\r\nMessage-ID: <idn-${++sent}-${Date.now()}@${IDN}>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n`
  );
}

describe('internationalised domains', () => {
  let t: MailTestEnvironment;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    // Neither the mailbox server nor the relay offers SMTPUTF8.
    t = await createMailTestEnvironment({}, { smtputf8: false });
    // The sender's domain publishes SPF allowing the client the MTA forwards for.
    t.dns.records[IDN] = { MX: [{ exchange: `mx.${IDN}`, priority: 10 }], TXT: [`v=spf1 ip4:${REMOTE_CLIENT.addr} -all`] };
    engine = await startInProcess(t.env, ['ingest', 'worker']);
    await addUser(engine.db, 'alice@example.test');
    await addUser(engine.db, 'jo@xn--mnchen-3ya.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  /** One message as the MTA passes it: XFORWARD for the remote client, SMTPUTF8, the reply after DATA. */
  async function send(from: string, to: string): Promise<string> {
    const lmtp = await rawLmtp(t.lmtpPort);
    try {
      await lmtp.command('LHLO mta.test');
      await lmtp.command(`XFORWARD ADDR=${REMOTE_CLIENT.addr} HELO=${REMOTE_CLIENT.helo}`);
      await lmtp.command(`MAIL FROM:<${from}> SMTPUTF8`);
      expect(await lmtp.command(`RCPT TO:<${to}>`), to).toEqual([expect.stringMatching(/^250 /)]);
      await lmtp.command('DATA');
      return (await lmtp.data(mail(from, to), 1))[0]!;
    } finally {
      lmtp.close();
    }
  }

  async function lastDecision(): Promise<{ sender: string; decision: string; symbols: string[] }> {
    const { rows } = await t.db.query(`SELECT sender, decision, reasons FROM message_recipients ORDER BY id DESC LIMIT 1`);
    return { sender: rows[0].sender, decision: rows[0].decision, symbols: rows[0].reasons.map((r: { symbol: string }) => r.symbol) };
  }

  it('accepts a user of an internationalised domain at RCPT, in its A-label and its Unicode spelling', async () => {
    const lmtp = await rawLmtp(t.lmtpPort);
    await lmtp.command('LHLO mta.test');
    await lmtp.command('MAIL FROM:<bob@remote.test> SMTPUTF8');
    expect(await lmtp.command('RCPT TO:<jo@xn--mnchen-3ya.test>')).toEqual([expect.stringMatching(/^250 /)]);
    lmtp.close();
    const utf8 = await rawLmtp(t.lmtpPort);
    await utf8.command('LHLO mta.test');
    await utf8.command('MAIL FROM:<bob@remote.test> SMTPUTF8');
    expect(await utf8.command('RCPT TO:<jo@münchen.test>')).toEqual([expect.stringMatching(/^250 /)]);
    utf8.close();
  });

  it('stores the sender of an internationalised domain under its A-labels, whichever spelling the MTA used', async () => {
    for (const from of [`bob@${IDN}`, 'bob@bücher.test']) {
      expect(await send(from, 'alice@example.test'), from).toMatch(/^250 /);
      expect((await lastDecision()).sender).toBe(`bob@${IDN}`);
    }
  });

  it('challenges, not quarantines, a sender of an internationalised domain whose SPF passes and whose From: is the envelope sender', async () => {
    const from = `carl@${IDN}`;
    expect(await send(from, 'alice@example.test')).toMatch(/^250 /);
    const d = await lastDecision();
    expect(d.symbols).toContain('SPF_PASS');
    expect(d.symbols).not.toContain('SENDER_UNVERIFIED');
    expect(d.symbols).not.toContain('FROM_NOT_ALIGNED');
    expect(d.decision).toBe('challenge');
  });

  it('applies a list entry of an internationalised domain to its mail whichever spelling either was written in', async () => {
    const alice = await findUserByAddress(engine.db, 'alice@example.test');
    // Written as the MTA passes it (A-labels), and as a person types it (Unicode).
    await addListEntry(engine.db, { userId: alice!.id, list: 'black', kind: 'domain', value: 'xn--kln-sna.test', source: 'manual' });
    await addListEntry(engine.db, { userId: alice!.id, list: 'white', kind: 'address', value: 'dora@bücher.test', source: 'manual' });
    for (const from of ['eve@xn--kln-sna.test', 'eve@köln.test']) {
      expect(await send(from, 'alice@example.test'), from).toMatch(/^250 /);
      expect(await lastDecision(), from).toMatchObject({ decision: 'discard', symbols: expect.arrayContaining(['BLACKLIST_DOMAIN']) });
    }
    expect(await send(`dora@${IDN}`, 'alice@example.test')).toMatch(/^250 /);
    expect(await lastDecision()).toMatchObject({ decision: 'deliver', symbols: expect.arrayContaining(['WHITELIST_ADDRESS']) });
  });

  it('sends the challenge to the sender of an internationalised domain in A-labels, to a relay without SMTPUTF8', async () => {
    const from = `fred@${IDN}`;
    expect(await send(from, 'alice@example.test')).toMatch(/^250 /);
    expect((await lastDecision()).decision).toBe('challenge');
    await waitFor(() => t.smtpSink.messages.some((m) => m.rcptTo.some((r) => r.startsWith('fred@'))), 'the challenge to fred');
    // smtp-server shows the sink's envelope with a Unicode domain: the command line is what was sent.
    expect(t.smtpSink.commands).toContain(`RCPT TO:<${from}>`);
    expect(t.smtpSink.commands.filter((c) => /[^\x00-\x7f]/.test(c))).toEqual([]);
  });

  it('delivers with the envelope in A-labels, to a mailbox server without SMTPUTF8', async () => {
    const jo = await findUserByAddress(engine.db, 'jo@xn--mnchen-3ya.test');
    await addListEntry(engine.db, { userId: jo!.id, list: 'white', kind: 'domain', value: IDN, source: 'manual' });
    expect(await send('gus@bücher.test', 'jo@münchen.test')).toMatch(/^250 /);
    expect((await lastDecision()).decision).toBe('deliver');
    expect(t.lmtpSink.commands).toEqual(expect.arrayContaining([`MAIL FROM:<gus@${IDN}>`, 'RCPT TO:<jo@xn--mnchen-3ya.test>']));
    expect(t.lmtpSink.commands.filter((c) => /[^\x00-\x7f]/.test(c))).toEqual([]);
    const { rows } = await t.db.query(`SELECT rcpt_to FROM message_recipients ORDER BY id DESC LIMIT 1`);
    expect(rows[0].rcpt_to).toBe('jo@xn--mnchen-3ya.test');
  });
});
