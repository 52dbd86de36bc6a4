/**
 * The sender's pages: escaping of what the sender wrote, "do not challenge me", and the security
 * headers a page carrying a secret link needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { addUser } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { waitFor, type Sink } from './helpers/sinks.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');

describe('confirmation site', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  async function challengeLinkFor(sender: string, subject: string): Promise<string> {
    const before = smtpSink.messages.length;
    const raw = FIXTURE.replace('Subject: Lunch on Thursday?', `Subject: ${subject}`);
    expect((await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw))[0]!.code).toBe(250);
    await waitFor(() => smtpSink.messages.length > before, 'a challenge');
    const text = smtpSink.messages.at(-1)!.raw.toString('utf8');
    return /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(text)![0];
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      // The pages are under test here; the evidence rule (SPF/DKIM before a challenge) has its own tests.
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
    });
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('escapes the original subject on the page', async () => {
    const link = await challengeLinkFor('mallory@remote.test', '<script>alert(1)</script> & "friends"');
    const html = await (await fetch(link)).text();
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;friends&quot;');
  });

  it('shows no more of the original subject than the challenge mail does: one line, 60 characters and "…"', async () => {
    const long = `Cheap meds at pharmacy dot example, call now: ${'buy more '.repeat(400)}`;
    const link = await challengeLinkFor('longsubject@remote.test', long);
    const html = await (await fetch(link)).text();
    const shown = /<dt>Subject<\/dt><dd>(?:<bdi>)?([^<]*)(?:<\/bdi>)?<\/dd>/.exec(html)?.[1];
    expect(shown).toBe(`${long.slice(0, 60).trimEnd()}…`);
    expect(html).not.toContain('buy more buy more buy more buy more buy more buy more');
  });

  it('sends headers that keep the token out of referrers and caches and forbid scripts', async () => {
    const link = await challengeLinkFor('hdr@remote.test', 'Headers');
    const res = await fetch(link);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('records "do not challenge me" and holds that sender\'s next message quietly', async () => {
    const link = await challengeLinkFor('optout@remote.test', 'First');
    const res = await fetch(`${link}/no-challenge`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('will not be asked again');
    const before = smtpSink.messages.length;
    // A fresh message after the first challenge is gone: quarantined, not challenged.
    await t.db.query(`UPDATE challenges SET status = 'expired', created_at = now() - interval '30 days' WHERE sender = 'optout@remote.test'`);
    expect((await lmtpSend(t.lmtpPort, 'optout@remote.test', ['alice@example.test'], FIXTURE))[0]!.code).toBe(250);
    const { rows } = await t.db.query(`SELECT decision, reasons FROM message_recipients WHERE sender = 'optout@remote.test' ORDER BY id DESC LIMIT 1`);
    expect(rows[0].decision).toBe('quarantine');
    expect(rows[0].reasons.map((r: { symbol: string }) => r.symbol)).toContain('SENDER_OPTED_OUT');
    expect(smtpSink.messages.length).toBe(before);
  });

  it('answers an expired link with 410 and releases nothing', async () => {
    const link = await challengeLinkFor('late@remote.test', 'Late');
    await t.db.query(`UPDATE challenges SET expires_at = now() - interval '1 second' WHERE sender = 'late@remote.test'`);
    expect((await fetch(link)).status).toBe(410);
    expect((await fetch(link, { method: 'POST' })).status).toBe(410);
    const { rows } = await t.db.query(`SELECT status FROM message_recipients WHERE sender = 'late@remote.test'`);
    expect(rows).toEqual([{ status: 'held' }]);
  });

  it('encodes a non-ASCII original subject in the challenge with RFC 2047', async () => {
    await challengeLinkFor('utf8@remote.test', 'Caf\u00e9 \u2615 r\u00e9union');
    const raw = smtpSink.messages.at(-1)!.raw.toString('utf8');
    const subjectLine = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(raw)![1]!;
    expect(subjectLine).toMatch(/=\?UTF-8\?[BQ]\?/i);
    expect(/[^\x00-\x7f]/.test(subjectLine)).toBe(false);
    const { simpleParser } = await import('mailparser');
    expect((await simpleParser(raw)).subject).toBe('C/R: please confirm your message: Caf\u00e9 \u2615 r\u00e9union');
  });

  it("writes the challenge in the recipient's language", async () => {
    await t.db.query(`UPDATE users SET language = 'de' WHERE address = 'alice@example.test'`);
    try {
      await challengeLinkFor('hans@remote.test', 'Termin');
      const { simpleParser } = await import('mailparser');
      const parsed = await simpleParser(smtpSink.messages.at(-1)!.raw);
      expect(parsed.subject).toBe('C/R: Bitte bestätigen Sie Ihre Nachricht: Termin');
      expect(parsed.text).toContain('Sie haben an alice@example.test geschrieben.');
      // The sender's page is in the recipient's language too.
      const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(parsed.text ?? '')![0];
      const page = await (await fetch(link)).text();
      expect(page).toContain('<html lang="de">');
      expect(page).toContain('Bestätigen Sie Ihre Nachricht');
      expect(page).toContain('Ja, die Nachricht ist von mir');
    } finally {
      await t.db.query(`UPDATE users SET language = 'en' WHERE address = 'alice@example.test'`);
    }
  });

  it("writes the message's date on the page in the page's language", async () => {
    await t.db.query(`UPDATE users SET language = 'de' WHERE address = 'alice@example.test'`);
    try {
      const german = await (await fetch(await challengeLinkFor('datum-de@remote.test', 'Datum auf Deutsch'))).text();
      expect(german).not.toContain('Mon, 23 Nov');
      expect(german).toContain('<dt>Datum</dt><dd>23.11.2026, 10:00 UTC</dd>');
    } finally {
      await t.db.query(`UPDATE users SET language = 'en' WHERE address = 'alice@example.test'`);
    }
    const english = await (await fetch(await challengeLinkFor('datum-en@remote.test', 'Date in English'))).text();
    expect(english).toContain('<dt>Date</dt><dd>23 Nov 2026, 10:00 UTC</dd>');
  });

  it("answers a used or expired link in the recipient's language", async () => {
    await t.db.query(`UPDATE users SET language = 'de' WHERE address = 'alice@example.test'`);
    try {
      const used = await challengeLinkFor('greta@remote.test', 'Gebraucht');
      expect((await fetch(used, { method: 'POST' })).status).toBe(200);
      for (const method of ['GET', 'POST']) {
        const again = await fetch(used, { method });
        expect(again.status).toBe(410);
        const page = await again.text();
        expect(page).toContain('<html lang="de">');
        expect(page).toContain('Dieser Bestätigungslink wurde bereits verwendet: Ihre Nachrichten wurden zugestellt.');
      }
      const late = await challengeLinkFor('kurt@remote.test', 'Abgelaufen');
      await t.db.query(`UPDATE challenges SET expires_at = now() - interval '1 second' WHERE sender = 'kurt@remote.test'`);
      const expired = await fetch(late);
      expect(expired.status).toBe(410);
      const page = await expired.text();
      expect(page).toContain('<html lang="de">');
      expect(page).toContain('Dieser Bestätigungslink ist abgelaufen.');
    } finally {
      await t.db.query(`UPDATE users SET language = 'en' WHERE address = 'alice@example.test'`);
    }
  });

  it('answers a confirmation link that names no challenge in the language the browser asks for', async () => {
    const unknown = `${t.publicUrl}/c/${'A'.repeat(43)}`;
    for (const language of ['de-DE,de;q=0.9,en;q=0.8', 'de-AT']) {
      const res = await fetch(unknown, { headers: { 'accept-language': language } });
      expect(res.status).toBe(404);
      const page = await res.text();
      expect(page).toContain('<html lang="de">');
      expect(page).toContain('Dieser Bestätigungslink ist nicht gültig.');
    }
    for (const headers of [{ 'accept-language': 'fr-FR,en;q=0.5' }, {}] as Array<Record<string, string>>) {
      const page = await (await fetch(unknown, { headers })).text();
      expect(page).toContain('<html lang="en">');
      expect(page).toContain('This confirmation link is not valid.');
    }
  });

  it('keeps a challenge\'s pages in the language it was sent in when the recipient changes the setting afterwards', async () => {
    await t.db.query(`UPDATE users SET language = 'de' WHERE address = 'alice@example.test'`);
    let link: string;
    try {
      link = await challengeLinkFor('ute@remote.test', 'Umgestellt');
    } finally {
      await t.db.query(`UPDATE users SET language = 'en' WHERE address = 'alice@example.test'`);
    }
    const page = await (await fetch(link)).text();
    expect(page).toContain('<html lang="de">');
    expect(page).toContain('<dt>Zurückgehalten</dt><dd>1 Nachricht</dd>');
    const thanks = await (await fetch(link, { method: 'POST' })).text();
    expect(thanks).toContain('<html lang="de">');
    expect(thanks).toContain('Ihre zurückgehaltene Nachricht an <strong>alice@example.test</strong> ist unterwegs');
  });

  it('reads a language setting written by hand (de-DE, DE) as the challenge mail does', async () => {
    const link = await challengeLinkFor('hand@remote.test', 'By hand');
    // A challenge sent before its language was recorded follows the recipient's setting.
    await t.db.query(`UPDATE challenges SET language = NULL WHERE sender = 'hand@remote.test'`);
    for (const language of ['de-DE', 'DE']) {
      await t.db.query(`UPDATE users SET language = $1 WHERE address = 'alice@example.test'`, [language]);
      try {
        const page = await (await fetch(link)).text();
        expect(page).toContain('<html lang="de">');
        expect(page).toContain('Bestätigen Sie Ihre Nachricht');
      } finally {
        await t.db.query(`UPDATE users SET language = 'en' WHERE address = 'alice@example.test'`);
      }
    }
  });

  it('says in one sentence that nothing is on its way when no held message was left to release', async () => {
    const link = await challengeLinkFor('gone@remote.test', 'Deleted meanwhile');
    expect(await (await fetch(link)).text()).toContain('<dt>Held</dt><dd>1 message</dd>');
    await t.db.query(`UPDATE message_recipients SET status = 'expired' WHERE sender = 'gone@remote.test'`);
    const thanks = await (await fetch(link, { method: 'POST' })).text();
    expect(thanks).toContain('Your future mail to <strong>alice@example.test</strong> will be delivered directly.');
    expect(thanks).not.toMatch(/on (its|their) way/);
  });

  it('answers English to a browser that puts English first, even when German is an exact match and English a region', async () => {
    const unknown = `${t.publicUrl}/c/${'A'.repeat(43)}`;
    for (const [language, lang] of [['en-GB,de', 'en'], ['en-US, de', 'en'], ['de, en;q=0.5', 'de'], ['fr, de;q=0.5, en;q=0.4', 'de']]) {
      const page = await (await fetch(unknown, { headers: { 'accept-language': language! } })).text();
      expect(page, language).toContain(`<html lang="${lang}">`);
    }
  });

  it('answers a sender\'s link that no route takes or that cannot be read in the browser\'s language', async () => {
    // Express routes case-insensitively (`/C/<token>` opens the page): so does the sender's error page.
    for (const [path, status] of [['/c/', 404], [`/c/${'A'.repeat(43)}/more`, 404], ['/c/%ZZ', 400], ['/C/', 404], ['/C/%ZZ', 400]] as const) {
      const res = await fetch(`${t.publicUrl}${path}`, { headers: { 'accept-language': 'de' } });
      expect(res.status, path).toBe(status);
      const page = await res.text();
      expect(page, path).toContain('<html lang="de">');
      expect(page, path).toContain('Dieser Bestätigungslink ist nicht gültig.');
    }
  });

  it('says in the browser\'s language that something failed on our side when the database fails under a sender\'s link', async () => {
    const link = await challengeLinkFor('outage@remote.test', 'Outage');
    await t.db.query('ALTER TABLE challenges RENAME TO challenges_away');
    try {
      const res = await fetch(link, { headers: { 'accept-language': 'de' } });
      expect(res.status).toBe(503);
      const page = await res.text();
      expect(page).toContain('<html lang="de">');
      expect(page).toContain('Vorübergehendes Problem');
    } finally {
      await t.db.query('ALTER TABLE challenges_away RENAME TO challenges');
    }
    expect((await fetch(link)).status).toBe(200);
  });

  it('serves a health check', async () => {
    const res = await fetch(`${t.publicUrl}/healthz`);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
