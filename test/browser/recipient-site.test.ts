/**
 * The recipient's site in a real browser: Debian's headless Chromium driven by playwright-core, against
 * a real engine with LMTP and SMTP sinks. A recipient signs in through the mailed link (typed with the
 * keyboard), sees held mail, opens a message, releases it (it arrives downstream), whitelists a sender
 * (their next message is delivered), marks one as spam, and a message whose subject, sender name and
 * HTML carry script payloads runs nothing. A second browser, with JavaScript off, does the same basics.
 *
 * Screenshots of the list and of a message go to docs/screenshots/ when CRGATE_UPDATE_SCREENSHOTS=1
 * (the dates in them change every run), otherwise to a temporary folder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { addUser } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from '../helpers/environment.js';
import { startInProcess } from '../helpers/in-process.js';
import { composeToAlice, lmtpSend, type TestMail } from '../helpers/lmtp-client.js';
import { waitFor, type Sink } from '../helpers/sinks.js';
import { chromiumAvailable, launchChromium, screenshotFolder, signInInBrowser } from '../helpers/browser.js';

const SCREENSHOTS = screenshotFolder();

// Locally a machine without Chromium skips these; in CI a missing browser is a failure, not a skip.
describe.skipIf(!chromiumAvailable() && !process.env.CI)('recipient site in Chromium', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const dialogs: string[] = [];
  const foreignRequests: string[] = [];

  async function send(from: string, mail: TestMail, envelope = from.replace(/^.*<|>$/g, '')): Promise<number> {
    const [reply] = await lmtpSend(t.lmtpPort, envelope, ['alice@example.test'], await composeToAlice({ from, ...mail }));
    expect(reply!.code).toBe(250);
    const { rows } = await t.db.query('SELECT max(id)::int AS id FROM message_recipients');
    return rows[0].id;
  }

  /** Nothing any page or frame ran set the flag. */
  async function expectNothingRan(p: Page): Promise<void> {
    for (const frame of p.frames()) {
      // A string, evaluated in the page: the test process has no DOM types.
      expect(await frame.evaluate('window.__pwned'), frame.url()).toBeUndefined();
    }
    expect(dialogs).toEqual([]);
  }

  async function signIn(p: Page, address: string): Promise<void> {
    await signInInBrowser(p, t.publicUrl, lmtpSink, address);
    expect(new URL(p.url()).pathname).toBe('/q');
  }

  function watch(context: BrowserContext, p: Page): void {
    p.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    context.on('request', (r) => {
      if (!r.url().startsWith(t.publicUrl) && !r.url().startsWith('data:')) foreignRequests.push(r.url());
    });
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      CRGATE_WEB_SIGNIN_PER_CLIENT: '1000',
    });
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    chromium = await launchChromium();
    page = chromium.context.pages()[0] ?? (await chromium.context.newPage());
    watch(chromium.context, page);
  });

  afterAll(async () => {
    await chromium?.close();
    await engine?.stop();
    await t?.cleanup();
  });

  // First: once the spam below is learnt, alice's model has ham and spam and starts deciding by itself.
  it('works with JavaScript off: sign in, open a message, delete it', async () => {
    const id = await send('Dave <dave@remote.test>', { subject: 'No script needed', text: 'Plain.' });
    const noJs = await launchChromium({ javaScriptEnabled: false });
    try {
      const p = noJs.context.pages()[0] ?? (await noJs.context.newPage());
      await signIn(p, 'alice@example.test');
      await p.getByRole('link', { name: 'No script needed' }).click();
      await p.getByText('Plain.').waitFor();
      await p.getByRole('button', { name: 'Delete' }).click();
      await p.getByText('1 message(s) deleted.').waitFor();
      expect((await t.db.query('SELECT status FROM message_recipients WHERE id = $1', [id])).rows[0].status).toBe('expired');
    } finally {
      await noJs.close();
    }
  });
  it('signs in through the mailed link, shows held mail, opens, releases, whitelists and marks spam', async () => {
    await send('Bob Remote <bob@remote.test>', {
      subject: 'Lunch on Thursday?',
      text: 'Hi Alice,\n\nare you free for lunch on Thursday? The café near the station.\n\nBob',
      html: '<p>Hi Alice,</p><p>are you free for <b>lunch on Thursday</b>? The café near <a href="https://maps.example/station">the station</a>.</p><img src="https://tracker.example/open.gif" alt="">',
      attachments: [{ filename: 'menu.pdf', content: Buffer.from('%PDF-1.4'), contentType: 'application/pdf' }],
    });
    await send('Carol <carol@remote.test>', { subject: 'Slides for Monday', text: 'Here they are.' });
    await send('Prize Desk <winner@remote.test>', { subject: 'You have won 1,000,000', text: 'Claim your prize now!' });
    await send('Newsletter <news@lists.remote.test>', { subject: 'Weekly digest', text: 'News', headers: { 'List-Id': '<news.lists.remote.test>', Precedence: 'bulk' } });
    const raw = await composeToAlice({ from: 'MAILER-DAEMON@remote.test', subject: 'Undelivered Mail Returned to Sender', text: 'bounce' });
    expect((await lmtpSend(t.lmtpPort, '', ['alice@example.test'], raw))[0]!.code).toBe(250);
    const evil = await send('"<img src=x onerror=window.__pwned=1>" <mallory@remote.test>', {
      subject: '<script>window.__pwned=1</script> invoice',
      text: '<script>window.__pwned=1</script>',
      html:
        '<script>window.__pwned=1;try{parent.__pwned=1}catch(e){}</script><img src=x onerror="window.__pwned=1">' +
        '<svg onload="window.__pwned=1"></svg><a href="javascript:window.__pwned=1">click me</a>' +
        '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe><p>Pay now</p>',
    });
    await waitFor(async () => (await t.db.query(`SELECT 1 FROM challenges WHERE status = 'sent'`)).rowCount! >= 3, 'challenges sent');

    await signIn(page, 'alice@example.test');
    await expectNothingRan(page);
    const table = page.getByRole('table');
    await expect(table.getByRole('link', { name: 'Lunch on Thursday?' }).isVisible()).resolves.toBe(true);
    await expect(table.getByText('challenge sent today').first().isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'quarantine.png'), fullPage: true });

    // Open the message; the HTML version loads in its sandboxed frame and loads nothing remote.
    await table.getByRole('link', { name: 'Lunch on Thursday?' }).click();
    await page.getByRole('heading', { name: 'Lunch on Thursday?' }).waitFor();
    await expect(page.getByText('menu.pdf').isVisible()).resolves.toBe(true);
    await page.getByText('Show the HTML version').click();
    const frame = page.frameLocator('iframe.html');
    await frame.getByText('lunch on Thursday').waitFor();
    await expect(frame.getByRole('link', { name: 'the station' }).getAttribute('href')).resolves.toBe(
      `/q/link?u=${encodeURIComponent('https://maps.example/station')}`,
    );
    await page.screenshot({ path: join(SCREENSHOTS, 'message.png'), fullPage: true });

    // A link asks before it leaves.
    await frame.getByRole('link', { name: 'the station' }).click();
    await page.getByRole('heading', { name: 'Open this link?' }).waitFor();
    await expect(page.getByText('maps.example', { exact: true }).isVisible()).resolves.toBe(true);
    expect(foreignRequests).toEqual([]);
    await page.goBack();
    await page.getByRole('heading', { name: 'Lunch on Thursday?' }).waitFor();

    // Release it: it arrives downstream.
    const before = lmtpSink.messages.length;
    await page.getByRole('button', { name: 'Release', exact: true }).click();
    await page.getByText('1 message(s) released.').waitFor();
    await waitFor(() => lmtpSink.messages.slice(before).some((m) => m.raw.includes('Subject: Lunch on Thursday?')), 'the released message');

    // Whitelist Carol from the list; her next message is delivered straight away.
    await page.getByRole('checkbox', { name: /Carol.*Slides for Monday/ }).check();
    await page.getByRole('button', { name: 'Release and whitelist the sender' }).click();
    await page.getByText('1 message(s) released, and their senders whitelisted.').waitFor();
    const beforeNext = lmtpSink.messages.length;
    const next = await send('Carol <carol@remote.test>', { subject: 'One more thing', text: 'Forgot this.' });
    expect((await t.db.query('SELECT decision, status FROM message_recipients WHERE id = $1', [next])).rows[0]).toEqual({ decision: 'deliver', status: 'delivered' });
    expect(lmtpSink.messages.slice(beforeNext).some((m) => m.raw.includes('Subject: One more thing'))).toBe(true);

    // Mark the prize mail as spam: it stays listed as discarded, and the classifier learns from it.
    await page.getByRole('checkbox', { name: /You have won/ }).check();
    await page.getByRole('button', { name: 'Mark as spam', exact: true }).click();
    await page.getByText('1 message(s) marked as spam.').waitFor();
    await expect(page.getByRole('row', { name: /You have won/ }).getByText('discarded', { exact: true }).isVisible()).resolves.toBe(true);
    await waitFor(async () => (await t.db.query(`SELECT 1 FROM classifier_trained WHERE label = 'spam'`)).rowCount! > 0, 'spam training');

    // The message full of script payloads: listed, opened, its HTML shown; nothing runs.
    await expectNothingRan(page);
    await page.goto(`${t.publicUrl}/q/${evil}`);
    await page.getByText('Show the HTML version').click();
    await page.frameLocator('iframe.html').getByText('Pay now').waitFor();
    await page.frameLocator('iframe.html').getByText('click me').click();
    await expectNothingRan(page);
    expect(new URL(page.url()).pathname).toBe(`/q/${evil}`);
    expect(foreignRequests).toEqual([]);
  });


  it('keeps a page with a 5,000-character subject and a 400-character attachment name within a 375 px screen', async () => {
    const id = await send('Huge <huge@remote.test>', {
      subject: 'A'.repeat(5000),
      text: 'x',
      attachments: [{ filename: `${'B'.repeat(400)}.pdf`, content: Buffer.from('%PDF-1.4'), contentType: 'application/pdf' }],
    });
    await chromium.context.clearCookies();
    const p = await chromium.context.newPage();
    try {
      await p.setViewportSize({ width: 375, height: 800 });
      await signIn(p, 'alice@example.test');
      await p.goto(`${t.publicUrl}/q/${id}`);
      expect(await p.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    } finally {
      await p.close();
    }
  });

  it('cuts a subject of 15 KB to 200 characters and "…" in the list, so its row stays short', async () => {
    await send('Long <long@remote.test>', { subject: 'word '.repeat(3000), text: 'x' });
    await chromium.context.clearCookies();
    const p = await chromium.context.newPage();
    try {
      await p.setViewportSize({ width: 1280, height: 800 });
      await signIn(p, 'alice@example.test');
      await p.goto(`${t.publicUrl}/q?q=long%40remote`);
      const link = p.getByRole('table').getByRole('link').first();
      expect(await link.textContent()).toBe(`${'word '.repeat(40).trim()}…`);
      const height = await p.evaluate(`document.querySelector('tbody tr').getBoundingClientRect().height`);
      expect(height).toBeLessThan(400);
    } finally {
      await p.close();
    }
  });
});
