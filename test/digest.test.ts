/**
 * The digest: a recipient with new held mail is told, with a link per message; the link opens the
 * message and releases it only through the POST of the page it opens; nothing is sent when there is
 * nothing new, and a forged or expired link does nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { addUser, resolveSecret } from '@crgate/store';
import { sendDigests } from '@crgate/worker';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { waitFor, type Sink } from './helpers/sinks.js';

describe('digest of held mail', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let secret: string;
  let link: string;

  beforeAll(async () => {
    t = await createMailTestEnvironment();
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    secret = await resolveSecret(engine.db, undefined, silentLogger);
    // Two unverifiable senders: held without a challenge.
    for (const n of [1, 2]) {
      const raw = `From: stranger${n}@far.test\r\nTo: alice@example.test\r\nSubject: Question ${n}\r\nMessage-ID: <digest-${n}@far.test>\r\n\r\nHello ${n}.\r\n`;
      expect((await lmtpSend(t.lmtpPort, `stranger${n}@far.test`, ['alice@example.test'], raw))[0]!.code).toBe(250);
    }
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('mails the recipient a summary with one link per new held message', async () => {
    expect(await sendDigests(engine.config, engine.db, secret, new Date(), silentLogger)).toBe(1);
    expect(lmtpSink.messages).toHaveLength(1);
    const digest = lmtpSink.messages[0]!;
    expect(digest.rcptTo).toEqual(['alice@example.test']);
    const { simpleParser } = await import('mailparser');
    const parsed = await simpleParser(digest.raw);
    expect(parsed.subject).toBe('Held mail: 2 new message(s)');
    expect(parsed.headers.get('auto-submitted')).toBe('auto-generated');
    const text = parsed.text ?? '';
    expect(text).toContain('stranger1@far.test');
    expect(text).toContain('Subject: Question 2');
    const links = text.match(/http:\/\/\S+\/d\/\S+/g) ?? [];
    expect(links).toHaveLength(2);
    link = links.find((l) => text.indexOf(l) > text.indexOf('Question 1'))!;
  });

  it('sends nothing when nothing new has been held', async () => {
    expect(await sendDigests(engine.config, engine.db, secret, new Date(Date.now() + 2 * 86_400_000), silentLogger)).toBe(0);
    expect(lmtpSink.messages).toHaveLength(1);
  });

  it('opens the message on GET and releases nothing', async () => {
    const res = await fetch(link);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('stranger1@far.test');
    expect(html).toMatch(/<form method="post" action="\/d\/[^"]+">/);
    expect(lmtpSink.messages).toHaveLength(1);
  });

  it('releases that one message through the POST of the page', async () => {
    const res = await fetch(link, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Released');
    await waitFor(() => lmtpSink.messages.length === 2, 'the released message');
    expect(lmtpSink.messages[1]!.raw.toString()).toContain('Message-ID: <digest-1@far.test>');
    const { rows } = await t.db.query(`SELECT m.message_id_header, r.status FROM message_recipients r JOIN messages m ON m.id = r.message_id ORDER BY 1`);
    expect(rows).toEqual([
      { message_id_header: '<digest-1@far.test>', status: 'released' },
      { message_id_header: '<digest-2@far.test>', status: 'held' },
    ]);
  });

  it('refuses a forged or altered link', async () => {
    const forged = link.replace(/\.([A-Za-z0-9_-]{43})$/, (_m, mac: string) => `.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`);
    expect((await fetch(forged)).status).toBe(410);
    expect((await fetch(forged, { method: 'POST' })).status).toBe(410);
    const otherCopy = link.replace(/\/d\/(\d+)\./, (_m, id: string) => `/d/${Number(id) + 1}.`);
    expect((await fetch(otherCopy, { method: 'POST' })).status).toBe(410);
  });
});
