/**
 * The outgoing tap and the sent-mail log: what alice sends whitelists its recipients; replies and
 * other systems' challenges about it reach her; automatic mail about messages she never sent is
 * discarded as backscatter; and the tap cannot be used from outside to whitelist anybody.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addUser } from '@crgate/store';
import { createTestEnvironment, freePort, type TestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { runCli, startEngineReady } from './helpers/engine-process.js';
import { sleep, startSink, waitFor, type Sink } from './helpers/sinks.js';

const TAP = 'crgate-sent@example.test';
const CAROL_CLIENT = { addr: '198.51.100.20', helo: 'mx.carol.test' };

function mail(lines: Record<string, string>, body = 'Hello.\r\n'): string {
  return `${Object.entries(lines).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`;
}

/** As Postfix writes it for a client that authenticated on the submission port. */
const SUBMISSION_RECEIVED =
  'from laptop (unknown [192.0.2.5])\r\n\t(Authenticated sender: alice)\r\n\tby mx.example.test (Postfix) with ESMTPSA id 4F1C2;\r\n\tMon, 23 Nov 2026 10:00:00 +0000 (UTC)';
/** As Postfix writes it for mail from the Internet. */
const INBOUND_RECEIVED = 'from mx.evil.test (mx.evil.test [192.0.2.66])\r\n\tby mx.example.test (Postfix) with ESMTP id 9A8B7;\r\n\tMon, 23 Nov 2026 10:05:00 +0000 (UTC)';

describe('outgoing tap and sent-mail log', () => {
  let t: TestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  async function whitelistOf(user: string): Promise<Array<{ value: string; source: string }>> {
    const { rows } = await t.db.query(
      `SELECT l.value, l.source FROM list_entries l JOIN users u ON u.id = l.user_id WHERE u.address = $1 AND l.list = 'white' ORDER BY l.value`,
      [user],
    );
    return rows;
  }

  async function decisionOf(messageId: string) {
    const { rows } = await t.db.query(
      `SELECT r.decision, r.status, r.reasons FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = $1`,
      [messageId],
    );
    return rows[0] && { decision: rows[0].decision, status: rows[0].status, symbols: rows[0].reasons.map((r: { symbol: string }) => r.symbol) };
  }

  beforeAll(async () => {
    lmtpSink = await startSink('lmtp');
    smtpSink = await startSink('smtp');
    t = await createTestEnvironment();
    Object.assign(t.env, {
      CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${lmtpSink.port}`,
      CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${smtpSink.port}`,
      CRGATE_TAP_ADDRESS: TAP,
    });
    t.dns.records['carol.test'] = { MX: [{ exchange: 'mx.carol.test', priority: 10 }], TXT: [`v=spf1 ip4:${CAROL_CLIENT.addr} -all`] };
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    await addUser(engine.db, 'dave@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await lmtpSink?.close();
    await smtpSink?.close();
    await t?.cleanup();
  });

  it("records alice's outgoing mail from the tap and whitelists its recipients, delivering nothing", async () => {
    const r = await pythonLmtpSend(
      t.lmtpPort,
      'alice@example.test',
      [TAP],
      mail({ Received: SUBMISSION_RECEIVED, From: 'Alice <alice@example.test>', To: 'Carol <carol@carol.test>', Cc: 'ed@ed.test', Subject: 'Dinner', 'Message-ID': '<out-1@example.test>' }),
    );
    expect(r.data).toEqual([[TAP, 250, expect.stringContaining('recorded, 2 recipient(s)')]]);
    expect(await whitelistOf('alice@example.test')).toEqual([
      { value: 'carol@carol.test', source: 'outgoing' },
      { value: 'ed@ed.test', source: 'outgoing' },
    ]);
    expect(lmtpSink.messages).toHaveLength(0);
  });

  it('whitelists the addresses of To: as written, not one an encoded display name spells out', async () => {
    // A reply keeps the display name of the mail it answers; the sender of that mail chose it.
    await addUser(engine.db, 'erin@example.test');
    const r = await pythonLmtpSend(
      t.lmtpPort,
      'erin@example.test',
      [TAP],
      mail({ Received: SUBMISSION_RECEIVED, From: 'erin@example.test', To: '=?utf-8?Q?Friend=2C_spam=40evil=2Etest=2C?= <friend@friend.test>', Subject: 'Re: hi', 'Message-ID': '<out-encoded@example.test>' }),
    );
    expect(r.data).toEqual([[TAP, 250, expect.stringContaining('recorded, 1 recipient(s)')]]);
    expect((await whitelistOf('erin@example.test')).map((e) => e.value)).toEqual(['friend@friend.test']);
  });

  it('answers a copy whose Message-ID is longer than any real one (3,000 characters) with 250, recording nothing', async () => {
    const r = await pythonLmtpSend(
      t.lmtpPort,
      'alice@example.test',
      [TAP],
      mail({ Received: SUBMISSION_RECEIVED, From: 'Alice <alice@example.test>', To: 'frank@frank.test', Subject: 'Long id', 'Message-ID': `<${randomBytes(1500).toString('hex')}@example.test>` }),
    );
    expect(r.data).toEqual([[TAP, 250, expect.stringContaining('no Message-ID')]]);
    expect((await whitelistOf('alice@example.test')).map((e) => e.value)).not.toContain('frank@frank.test');
  });

  it("delivers carol's reply directly", async () => {
    const r = await pythonLmtpSend(
      t.lmtpPort,
      'carol@carol.test',
      ['alice@example.test'],
      mail({ From: 'carol@carol.test', To: 'alice@example.test', Subject: 'Re: Dinner', 'Message-ID': '<reply-1@carol.test>', 'In-Reply-To': '<out-1@example.test>' }),
      { xforward: CAROL_CLIENT },
    );
    expect(r.data?.[0]?.[1]).toBe(250);
    expect(lmtpSink.messages).toHaveLength(1);
    expect((await decisionOf('<reply-1@carol.test>')).decision).toBe('deliver');
  });

  it("delivers a challenge from carol's C/R system about alice's message", async () => {
    const r = await pythonLmtpSend(
      t.lmtpPort,
      '',
      ['alice@example.test'],
      mail({
        From: 'verify@cr.carol.test',
        To: 'alice@example.test',
        Subject: 'C/R: please confirm your message: Dinner',
        'Auto-Submitted': 'auto-replied (challenge)',
        'Message-ID': '<cr-1@cr.carol.test>',
        'In-Reply-To': '<out-1@example.test>',
      }),
      { xforward: CAROL_CLIENT },
    );
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('<cr-1@cr.carol.test>');
    expect(d.decision).toBe('deliver');
    expect(d.symbols).toContain('REPLY_TO_SENT');
    expect(lmtpSink.messages).toHaveLength(2);
  });

  it("does not take a person's mail that only quotes a Message-ID alice sent in its body for a reply to her", async () => {
    // The Message-ID lines of the body count inside a bounce or report (the returned message), not in
    // what somebody writes: their mail is a reply only by its In-Reply-To or References.
    const r = await pythonLmtpSend(
      t.lmtpPort,
      'stranger@carol.test',
      ['alice@example.test'],
      mail({ From: 'stranger@carol.test', To: 'alice@example.test', Subject: 'Something new', 'Message-ID': '<quote-1@carol.test>' }, 'You wrote:\r\n> Message-ID: <out-1@example.test>\r\n> Dinner?\r\n'),
      { xforward: CAROL_CLIENT },
    );
    expect(r.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('<quote-1@carol.test>');
    expect(d.symbols).not.toContain('REPLY_TO_SENT');
    expect(d.decision).toBe('challenge');
  });

  it('discards a challenge about a message alice never sent', async () => {
    await pythonLmtpSend(
      t.lmtpPort,
      '',
      ['alice@example.test'],
      mail({
        From: 'verify@cr.carol.test',
        To: 'alice@example.test',
        Subject: 'C/R: please confirm your message: Cheap pills',
        'Auto-Submitted': 'auto-replied (challenge)',
        'Message-ID': '<cr-2@cr.carol.test>',
        'In-Reply-To': '<forged-123@example.test>',
      }),
      { xforward: CAROL_CLIENT },
    );
    const d = await decisionOf('<cr-2@cr.carol.test>');
    expect(d).toMatchObject({ decision: 'discard', status: 'discarded' });
    expect(d.symbols).toContain('BACKSCATTER');
    expect(lmtpSink.messages).toHaveLength(2);
  });

  it('delivers a bounce that carries the headers of a message alice sent, and discards one that does not', async () => {
    const bounce = (id: string, original: string) =>
      mail(
        { From: 'MAILER-DAEMON@mx.carol.test', To: 'alice@example.test', Subject: 'Undelivered Mail Returned to Sender', 'Message-ID': id, 'Content-Type': 'text/plain' },
        `This is the mail system.\r\n\r\n--- original headers ---\r\nFrom: alice@example.test\r\nMessage-ID: ${original}\r\nSubject: Dinner\r\n`,
      );
    await pythonLmtpSend(t.lmtpPort, '', ['alice@example.test'], bounce('<b-1@mx.carol.test>', '<out-1@example.test>'), { xforward: CAROL_CLIENT });
    await pythonLmtpSend(t.lmtpPort, '', ['alice@example.test'], bounce('<b-2@mx.carol.test>', '<never@example.test>'), { xforward: CAROL_CLIENT });
    expect((await decisionOf('<b-1@mx.carol.test>')).decision).toBe('deliver');
    expect((await decisionOf('<b-2@mx.carol.test>')).decision).toBe('discard');
  });

  it('whitelists nobody from inbound mail that forges a local sender and is copied to the tap', async () => {
    const r = await pythonLmtpSend(
      t.lmtpPort,
      'dave@example.test',
      [TAP],
      mail({ Received: INBOUND_RECEIVED, From: 'dave@example.test', To: 'spammer@evil.test', Subject: 'x', 'Message-ID': '<forged-tap@evil.test>' }),
    );
    expect(r.data?.[0]?.[1]).toBe(250);
    expect(r.data?.[0]?.[2]).toContain('ignored');
    expect(await whitelistOf('dave@example.test')).toEqual([]);
  });

  it('whitelists nobody from inbound mail to a user that forges a local sender', async () => {
    await pythonLmtpSend(
      t.lmtpPort,
      'dave@example.test',
      ['alice@example.test'],
      mail({ Received: INBOUND_RECEIVED, From: 'dave@example.test', To: 'alice@example.test', Cc: 'spammer@evil.test', Subject: 'x', 'Message-ID': '<forged-in@evil.test>' }),
      { xforward: { addr: '192.0.2.66', helo: 'mx.evil.test' } },
    );
    const d = await decisionOf('<forged-in@evil.test>');
    expect(d.decision).toBe('quarantine');
    expect(d.symbols).toContain('FORGED_LOCAL_SENDER');
    expect(await whitelistOf('dave@example.test')).toEqual([]);
  });

  it('whitelists no address of a protected domain, so a forgery of a colleague from outside is still held', async () => {
    // Mail from our own domains is let in by SPF or DKIM (FORGED_LOCAL_SENDER), never by a whitelist
    // entry that anybody outside can claim.
    await addUser(engine.db, 'jack@example.test');
    const r = await pythonLmtpSend(
      t.lmtpPort,
      'jack@example.test',
      [TAP],
      mail({ Received: SUBMISSION_RECEIVED, From: 'jack@example.test', To: 'dave@example.test, sales@example.test', Cc: 'kim@kim.test', Subject: 'Lunch', 'Message-ID': '<jack-lunch@example.test>' }),
    );
    expect(r.data?.[0]?.[1]).toBe(250);
    expect((await whitelistOf('jack@example.test')).map((e) => e.value)).toEqual(['kim@kim.test']);
    await pythonLmtpSend(
      t.lmtpPort,
      'dave@example.test',
      ['jack@example.test'],
      mail({ Received: INBOUND_RECEIVED, From: 'Dave <dave@example.test>', To: 'jack@example.test', Subject: 'Urgent: wire transfer', 'Message-ID': '<forged-dave@evil.test>' }),
      { xforward: { addr: '192.0.2.66', helo: 'mx.evil.test' } },
    );
    const d = await decisionOf('<forged-dave@evil.test>');
    expect(d.decision).toBe('quarantine');
    expect(d.symbols).toContain('FORGED_LOCAL_SENDER');
    expect(d.symbols).not.toContain('WHITELIST_ADDRESS');
  });

  it('refuses the tap address at RCPT from a peer that is not trusted', async () => {
    const other = await startInProcess({ ...t.env, CRGATE_LMTP_LISTEN: `127.0.0.1:${await freePort()}`, CRGATE_TAP_TRUSTED_CLIENTS: '10.1.2.3' }, ['ingest']);
    try {
      const r = await pythonLmtpSend(other.config.lmtp.listen.port, 'alice@example.test', [TAP], mail({ Received: SUBMISSION_RECEIVED, From: 'alice@example.test', To: 'x@x.test', 'Message-ID': '<untrusted@example.test>' }));
      expect(r.rcpt).toEqual([[TAP, 550, expect.stringContaining('tap does not accept')]]);
    } finally {
      await other.stop();
    }
    await sleep(100);
    expect(await whitelistOf('alice@example.test')).not.toContainEqual({ value: 'x@x.test', source: 'outgoing' });
  });

  it("takes a redirected message's recipients from its newest Resent- block only, and neither logs the original author's Message-ID nor learns the text as ham", async () => {
    // alice's client redirects (bounces, resends) a message she received: the To, Cc and Message-ID
    // below the Resent- fields are the original author's, here a spammer's, and so is the text.
    await addUser(engine.db, 'hank@example.test');
    const hank = (await t.db.query(`SELECT id FROM users WHERE address = 'hank@example.test'`)).rows[0].id;
    const resent = [
      `Received: ${SUBMISSION_RECEIVED}`,
      'Resent-From: hank@example.test',
      'Resent-To: helpdesk@corp.test',
      'Resent-Date: Mon, 23 Nov 2026 10:00:00 +0000',
      'Resent-Message-ID: <resent-1@example.test>',
      `Received: ${INBOUND_RECEIVED}`,
      // An older "Resent" block the spammer wrote himself.
      'Resent-Cc: fake-resent@evil.test',
      'From: King <king@evil.test>',
      'To: hank@example.test',
      'Cc: partner@evil.test',
      'Subject: Cheap pills',
      'Message-ID: <spam-1@evil.test>',
      '',
      'Cheap pills, best casino bonus.',
      '',
    ].join('\r\n');
    const r = await pythonLmtpSend(t.lmtpPort, 'hank@example.test', [TAP], resent);
    expect(r.data).toEqual([[TAP, 250, expect.stringContaining('recorded, 1 recipient(s)')]]);
    expect((await whitelistOf('hank@example.test')).map((e) => e.value)).toEqual(['helpdesk@corp.test']);
    const { rows: logged } = await t.db.query(`SELECT message_id_header FROM sent_messages WHERE user_id = $1`, [hank]);
    expect(logged.map((l) => l.message_id_header)).toEqual(['<resent-1@example.test>']);

    // A "reply" to the spam is no reply to hank's mail.
    const reply = await pythonLmtpSend(
      t.lmtpPort,
      'carol@carol.test',
      ['hank@example.test'],
      mail({ From: 'carol@carol.test', To: 'hank@example.test', Subject: 'Re: Cheap pills', 'Message-ID': '<spam-2@carol.test>', References: '<spam-1@evil.test>' }),
      { xforward: CAROL_CLIENT },
    );
    expect(reply.data?.[0]?.[1]).toBe(250);
    const d = await decisionOf('<spam-2@carol.test>');
    expect(d.symbols).not.toContain('REPLY_TO_SENT');
    expect(d.decision).not.toBe('deliver');

    // hank's own mail is learned as ham; the redirected spam is not. Learning is batched in order, so
    // once the later copy is trained the earlier one would have been too.
    const own = mail({ Received: SUBMISSION_RECEIVED, From: 'hank@example.test', To: 'ivy@ivy.test', Subject: 'Plans', 'Message-ID': '<hank-own@example.test>' }, 'See you at the station at nine.\r\n');
    await pythonLmtpSend(t.lmtpPort, 'hank@example.test', [TAP], own);
    const trained = async () => (await t.db.query(`SELECT label FROM classifier_trained WHERE scope = $1`, [hank])).rows.map((x) => x.label);
    await waitFor(async () => (await trained()).length > 0, "hank's own mail trained");
    await sleep(500);
    expect(await trained()).toEqual(['ham']);
  });

  it('logs tap.ignored, with the peer, when it refuses a copy from an untrusted peer (operators watch that event for a miswired tap)', async () => {
    const port = await freePort();
    const other = await startEngineReady({ ...t.env, CRGATE_LMTP_LISTEN: `127.0.0.1:${port}`, CRGATE_TAP_TRUSTED_CLIENTS: '10.1.2.3' }, ['--role', 'ingest']);
    try {
      const r = await pythonLmtpSend(port, 'alice@example.test', [TAP], mail({ Received: SUBMISSION_RECEIVED, From: 'alice@example.test', To: 'y@y.test', 'Message-ID': '<untrusted-2@example.test>' }));
      expect(r.rcpt).toEqual([[TAP, 550, expect.stringContaining('tap does not accept')]]);
      const line = await other.waitForLog((l) => l.event === 'tap.ignored', 'tap.ignored for the refused copy');
      expect(line).toMatchObject({ level: expect.anything(), mailFrom: 'alice@example.test', peer: '127.0.0.1', reason: expect.stringContaining('not one of tap.trustedClients') });
    } finally {
      await other.kill();
    }
  });

  it('bootstraps the sent-mail log from a Maildir with crgate import-sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crgate-sent-'));
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'cur', '1.eml:2,S'), mail({ From: 'dave@example.test', To: 'frank@frank.test, Gina <gina@gina.test>', 'Message-ID': '<sent-1@example.test>', Subject: 'hi' }));
    writeFileSync(join(dir, 'cur', '2.eml:2,S'), mail({ From: 'dave@example.test', To: 'frank@frank.test', Subject: 'no id' }));
    const r = await runCli(['import-sent', '--as', 'dave@example.test', dir], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('imported 1 sent messages for dave@example.test; 2 new whitelist entries; 1 without Message-ID skipped; 0 not from dave@example.test skipped\n');
    expect(await whitelistOf('dave@example.test')).toEqual([
      { value: 'frank@frank.test', source: 'outgoing' },
      { value: 'gina@gina.test', source: 'outgoing' },
    ]);
    const again = await runCli(['import-sent', '--as', 'dave@example.test', dir], t.env);
    expect(again.stdout).toContain('0 new whitelist entries');
  });
  it("imports only the messages the user wrote: pointed at an inbox by mistake, it whitelists nobody a stranger's mail names", async () => {
    // The live tap takes only mail the user submitted; a Sent folder's equivalent is a From: of theirs.
    await addUser(engine.db, 'lena@example.test');
    const dir = mkdtempSync(join(tmpdir(), 'crgate-inbox-'));
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'cur', '1.eml:2,S'), mail({ From: 'Lena <LENA+work@example.test>', To: 'max@max.test', 'Message-ID': '<lena-1@example.test>', Subject: 'hi' }));
    writeFileSync(
      join(dir, 'cur', '2.eml:2,S'),
      mail({ From: 'King <king@evil.test>', To: 'lena@example.test', Cc: 'partner@evil.test', 'Message-ID': '<inbox-spam@evil.test>', Subject: 'Cheap pills' }),
    );
    const r = await runCli(['import-sent', '--as', 'lena@example.test', dir], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('imported 1 sent messages for lena@example.test; 1 new whitelist entries; 0 without Message-ID skipped; 1 not from lena@example.test skipped\n');
    expect((await whitelistOf('lena@example.test')).map((e) => e.value)).toEqual(['max@max.test']);
    const { rows } = await t.db.query(`SELECT s.message_id_header FROM sent_messages s JOIN users u ON u.id = s.user_id WHERE u.address = 'lena@example.test'`);
    expect(rows.map((x) => x.message_id_header)).toEqual(['<lena-1@example.test>']);
  });
});
