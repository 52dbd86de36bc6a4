/**
 * The digest: a recipient with new held mail is told, with a link per message; the link opens the
 * message and releases it only through the POST of the page it opens; nothing is sent when there is
 * nothing new, and a forged or expired link does nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { addUser, applyQuarantineAction, DIGEST_LAG_MS, digestsDue, findUserByAddress, markDigestSent, resolveSecret, SendLocks } from '@crgate/store';
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
    // A digest covers mail up to DIGEST_LAG_MS before it is made.
    expect(await sendDigests(engine.config, engine.db, secret, new Date(Date.now() + DIGEST_LAG_MS), silentLogger)).toBe(1);
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
    // The sink has the message a moment before the worker records the copy as released.
    const statusOf = async (header: string) =>
      (await t.db.query(`SELECT r.status FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = $1`, [header])).rows[0].status;
    await waitFor(async () => (await statusOf('<digest-1@far.test>')) === 'released', 'the copy recorded as released');
    const { rows } = await t.db.query(`SELECT m.message_id_header, r.status FROM message_recipients r JOIN messages m ON m.id = r.message_id ORDER BY 1`);
    expect(rows).toEqual([
      { message_id_header: '<digest-1@far.test>', status: 'released' },
      { message_id_header: '<digest-2@far.test>', status: 'held' },
    ]);
  });

  it('lists each held message in exactly one digest, also one that arrived while the digest was being made', async () => {
    await addUser(engine.db, 'bert@example.test');
    const bert = (await findUserByAddress(engine.db, 'bert@example.test'))!.id;
    const ids: number[] = [];
    for (const n of [1, 2]) {
      const raw = `From: visitor${n}@far.test\r\nTo: bert@example.test\r\nSubject: Visit ${n}\r\nMessage-ID: <visit-${n}@far.test>\r\n\r\nHi.\r\n`;
      expect((await lmtpSend(t.lmtpPort, `visitor${n}@far.test`, ['bert@example.test'], raw))[0]!.code).toBe(250);
      ids.push((await t.db.query(`SELECT id FROM message_recipients WHERE sender = $1`, [`visitor${n}@far.test`])).rows[0].id);
    }
    // Visit 1 is an hour old; visit 2 was stamped a moment before the digest is made (its transaction
    // could still be open then).
    const at = new Date('2026-12-01T07:00:00.020Z');
    await t.db.query(`UPDATE message_recipients SET created_at = $2 WHERE id = $1`, [ids[0], new Date(at.getTime() - 3_600_000)]);
    await t.db.query(`UPDATE message_recipients SET created_at = $2 WHERE id = $1`, [ids[1], new Date(at.getTime() - 1_000)]);
    await t.db.query(`UPDATE users SET last_digest_at = $2 WHERE id = $1`, [bert, new Date(at.getTime() - 86_400_000)]);
    const subjectsIn = async (now: Date) => {
      const due = (await digestsDue(engine.db, now)).find((d) => d.userId === bert);
      if (due) await markDigestSent(engine.db, bert, due.until);
      return due?.items.map((i) => i.subject) ?? [];
    };
    expect(await subjectsIn(at)).toEqual(['Visit 1']);
    expect(await subjectsIn(new Date(at.getTime() + 3_600_000))).toEqual([]);
    expect(await subjectsIn(new Date(at.getTime() + 86_400_000))).toEqual(['Visit 2']);
    expect(await subjectsIn(new Date(at.getTime() + 2 * 86_400_000))).toEqual([]);
  });

  it('is due again a day later even when the hourly run comes a little earlier than the day before', async () => {
    const bert = (await findUserByAddress(engine.db, 'bert@example.test'))!.id;
    const today = new Date(Date.now() + DIGEST_LAG_MS + 3_600_000);
    today.setUTCMinutes(0, 0, 0);
    const yesterday = new Date(today.getTime() - 86_400_000);
    await t.db.query(`UPDATE users SET last_digest_at = $2 WHERE id = $1`, [bert, new Date(yesterday.getTime() - 86_400_000)]);
    for (const [n, created] of [[3, yesterday], [4, today]] as const) {
      const raw = `From: visitor${n}@far.test\r\nTo: bert@example.test\r\nSubject: Visit ${n}\r\nMessage-ID: <visit-${n}@far.test>\r\n\r\nHi.\r\n`;
      expect((await lmtpSend(t.lmtpPort, `visitor${n}@far.test`, ['bert@example.test'], raw))[0]!.code).toBe(250);
      await t.db.query(`UPDATE message_recipients SET created_at = $2 WHERE sender = $1`, [`visitor${n}@far.test`, new Date(created.getTime() - 3_600_000)]);
    }
    const toBert = () => lmtpSink.messages.filter((m) => m.rcptTo.includes('bert@example.test')).length;
    const before = toBert();
    // Yesterday's hourly run made the digest 40 ms after the hour; today's comes 5 ms after it.
    await sendDigests(engine.config, engine.db, secret, new Date(yesterday.getTime() + 40), silentLogger);
    expect(toBert()).toBe(before + 1);
    await sendDigests(engine.config, engine.db, secret, new Date(today.getTime() + 5), silentLogger);
    expect(toBert()).toBe(before + 2);
  });

  it('sends one digest per user when two workers make the digests at the same moment', async () => {
    await addUser(engine.db, 'cleo@example.test');
    const raw = `From: caller@far.test\r\nTo: cleo@example.test\r\nSubject: Call me\r\nMessage-ID: <call-1@far.test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, 'caller@far.test', ['cleo@example.test'], raw))[0]!.code).toBe(250);
    const toCleo = () => lmtpSink.messages.filter((m) => m.rcptTo.includes('cleo@example.test')).length;
    // Each worker process has its own lock connection.
    const [one, two] = [new SendLocks(engine.config.databaseUrl), new SendLocks(engine.config.databaseUrl)];
    try {
      const at = new Date(Date.now() + DIGEST_LAG_MS + 1000);
      await Promise.all([
        sendDigests(engine.config, engine.db, secret, at, silentLogger, one),
        sendDigests(engine.config, engine.db, secret, at, silentLogger, two),
      ]);
    } finally {
      await one.close();
      await two.close();
    }
    expect(toCleo()).toBe(1);
  });

  it('keeps the hour of the daily digest after a day with nothing new', async () => {
    await addUser(engine.db, 'dora@example.test');
    const dora = (await findUserByAddress(engine.db, 'dora@example.test'))!.id;
    // Dora's digest comes at 07:00 (a day after `day0`, the end of the period her last one covered).
    const day0 = new Date(Date.now() + 10 * 86_400_000);
    day0.setUTCHours(7, 0, 0, 0);
    const day = (n: number, hours = 0) => new Date(day0.getTime() + n * 86_400_000 + hours * 3_600_000);
    await t.db.query(`UPDATE users SET last_digest_at = $2 WHERE id = $1`, [dora, new Date(day0.getTime() - DIGEST_LAG_MS)]);
    const toDora = () => lmtpSink.messages.filter((m) => m.rcptTo.includes('dora@example.test'));
    // Day 1, 07:00: nothing new, nothing sent.
    await sendDigests(engine.config, engine.db, secret, day(1), silentLogger);
    expect(toDora()).toHaveLength(0);
    // A message held at 15:00 on day 1 waits for the digest of day 2 at 07:00, not the run of 16:00.
    const raw = `From: late@far.test\r\nTo: dora@example.test\r\nSubject: Afternoon\r\nMessage-ID: <late-1@far.test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, 'late@far.test', ['dora@example.test'], raw))[0]!.code).toBe(250);
    await t.db.query(`UPDATE message_recipients SET created_at = $2 WHERE user_id = $1`, [dora, day(1, 8)]);
    await sendDigests(engine.config, engine.db, secret, day(1, 9), silentLogger);
    expect(toDora()).toHaveLength(0);
    await sendDigests(engine.config, engine.db, secret, new Date(day(2).getTime() + 5), silentLogger);
    expect(toDora()).toHaveLength(1);
    expect(toDora()[0]!.raw.toString()).toContain('Subject: Afternoon');
  });

  it('leaves out what the recipient already marked as spam on the site', async () => {
    await addUser(engine.db, 'emil@example.test');
    const emil = (await findUserByAddress(engine.db, 'emil@example.test'))!.id;
    for (const [n, subject] of [[1, 'Cheap pills'], [2, 'Lunch tomorrow?']] as const) {
      const raw = `From: sender${n}@far.test\r\nTo: emil@example.test\r\nSubject: ${subject}\r\nMessage-ID: <emil-${n}@far.test>\r\n\r\nHi.\r\n`;
      expect((await lmtpSend(t.lmtpPort, `sender${n}@far.test`, ['emil@example.test'], raw))[0]!.code).toBe(250);
    }
    const [{ id: spamId }] = (await t.db.query(`SELECT id FROM message_recipients WHERE sender = 'sender1@far.test'`)).rows;
    await applyQuarantineAction(engine.db, emil, [spamId], 'spam');
    const due = (await digestsDue(engine.db, new Date(Date.now() + DIGEST_LAG_MS + 1000))).find((d) => d.userId === emil)!;
    expect(due.items.map((i) => i.subject)).toEqual(['Lunch tomorrow?']);
    expect(due.total).toBe(1);
  });

  it('refuses a forged or altered link', async () => {
    const forged = link.replace(/\.([A-Za-z0-9_-]{43})$/, (_m, mac: string) => `.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`);
    expect((await fetch(forged)).status).toBe(410);
    expect((await fetch(forged, { method: 'POST' })).status).toBe(410);
    const otherCopy = link.replace(/\/d\/(\d+)\./, (_m, id: string) => `/d/${Number(id) + 1}.`);
    expect((await fetch(otherCopy, { method: 'POST' })).status).toBe(410);
  });
});
