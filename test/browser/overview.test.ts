/**
 * The operator overview in a real browser (Debian's headless Chromium through playwright-core, with
 * JavaScript off: the chart is server-drawn SVG and needs none). Mail sent through the engine over LMTP
 * is delivered, challenged, confirmed on the sender's page, held and discarded; an admin signs in and
 * sees exactly those counts, in the figures, the table and the top reasons. A user without the admin
 * flag sees no link to the page and gets 404 from it, and so does an admin once the flag is revoked.
 *
 * The screenshot of the overview goes to docs/screenshots/overview.png when
 * CRGATE_UPDATE_SCREENSHOTS=1, otherwise to a temporary folder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { addListEntry, addUser, findUserByAddress, setAdmin } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from '../helpers/environment.js';
import { startInProcess } from '../helpers/in-process.js';
import { composeToAlice, lmtpSend, type TestMail } from '../helpers/lmtp-client.js';
import { waitFor, type Sink } from '../helpers/sinks.js';
import { chromiumAvailable, launchChromium, screenshotFolder, signInInBrowser } from '../helpers/browser.js';

const SCREENSHOTS = screenshotFolder();

const compose = (mail: TestMail) => composeToAlice({ text: 'Hello.', ...mail });

describe.skipIf(!chromiumAvailable() && !process.env.CI)('operator overview in Chromium', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;

  async function send(sender: string, mail: TestMail = {}): Promise<void> {
    const raw = await compose({ from: sender, subject: `From ${sender}`, ...mail });
    const [reply] = await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw);
    expect(reply!.code).toBe(250);
  }

  async function newPage(): Promise<Page> {
    const p = await chromium.context.newPage();
    await chromium.context.clearCookies();
    return p;
  }

  const signIn = (p: Page, address: string) => signInInBrowser(p, t.publicUrl, lmtpSink, address);

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      CRGATE_WEB_SIGNIN_PER_CLIENT: '1000',
    });
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'ops@example.test', { admin: true });
    await addUser(engine.db, 'alice@example.test');
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    await addListEntry(engine.db, { userId: alice.id, list: 'white', kind: 'address', value: 'friend@remote.test', source: 'manual' });
    await addListEntry(engine.db, { userId: alice.id, list: 'black', kind: 'address', value: 'spammer@remote.test', source: 'manual' });

    // 2 delivered, 3 challenged (one then confirmed), 1 held as bulk mail, 2 discarded.
    await send('friend@remote.test');
    await send('friend@remote.test', { subject: 'Again' });
    for (const s of ['carol@remote.test', 'dave@remote.test', 'erin@remote.test']) await send(s);
    await send('news@remote.test', { headers: { Precedence: 'bulk' } });
    await send('spammer@remote.test');
    await send('spammer@remote.test', { subject: 'More' });
    await waitFor(() => smtpSink.messages.length >= 3, 'three challenges sent');

    chromium = await launchChromium({ javaScriptEnabled: false });
    // The sender carol confirms on her challenge page, as a sender would.
    const carol = smtpSink.messages.find((m) => m.raw.toString('utf8').includes('carol@remote.test'))!;
    const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(carol.raw.toString('utf8'))![0];
    const p = await newPage();
    await p.goto(link);
    await p.getByRole('button', { name: 'Yes, I sent it: deliver my mail' }).click();
    await waitFor(async () => (await t.db.query(`SELECT 1 FROM challenges WHERE status = 'confirmed'`)).rowCount === 1, 'the confirmation');
    await p.close();
  });

  afterAll(async () => {
    await chromium?.close();
    await engine?.stop();
    await t?.cleanup();
  });

  it('shows an admin the counts of the mail sent, per decision, as a chart, a table and top reasons', async () => {
    const p = await newPage();
    await signIn(p, 'ops@example.test');
    await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
    await p.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const total = (key: string) => p.locator(`[data-total="${key}"]`).textContent();
    expect(await total('deliver')).toBe('2');
    expect(await total('challenge')).toBe('3');
    expect(await total('confirmed')).toBe('1');
    expect(await total('quarantine')).toBe('1');
    expect(await total('discard')).toBe('2');
    expect(await total('rate')).toBe('33%');

    // The chart is there without JavaScript, named by its heading.
    await expect(p.getByRole('img', { name: /Decisions per day, last 30 days/ }).isVisible()).resolves.toBe(true);
    // Today's row of the table carries the same numbers.
    const today = new Date();
    const label = `${today.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' })} ${today.getUTCDate()}`;
    const cells = await p.getByRole('row', { name: new RegExp(`^${label}\\b`) }).getByRole('cell').allTextContents();
    expect(cells).toEqual(['2', '3', '1', '1', '2']);
    // Top reasons, in words and as symbols.
    expect(await p.locator('[data-reason="BLACKLIST_ADDRESS"]').textContent()).toBe('2');
    expect(await p.locator('[data-reason="WHITELIST_ADDRESS"]').textContent()).toBe('2');
    expect(await p.locator('[data-reason="BULK_PRECEDENCE"]').textContent()).toBe('1');
    await p.getByRole('cell', { name: 'sender on your blacklist' }).waitFor();
    await p.screenshot({ path: join(SCREENSHOTS, 'overview.png') }); // the figures and the chart; the long table is left out

    // The 48-hour view by the keyboard: per hour, the same totals.
    await p.getByRole('link', { name: 'Last 48 hours' }).focus();
    await p.keyboard.press('Enter');
    await p.getByRole('img', { name: /Decisions per hour, last 48 hours/ }).waitFor();
    expect(await total('deliver')).toBe('2');
    expect(await total('discard')).toBe('2');
    await p.close();
  });

  it('fits the overview into a 375 px screen: the wide table scrolls inside its box', async () => {
    const p = await newPage();
    await p.setViewportSize({ width: 375, height: 800 });
    await signIn(p, 'ops@example.test');
    await p.goto(`${t.publicUrl}/admin`);
    await p.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    expect(await p.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await p.close();
  });

  it('refuses the overview to a user without the admin flag, and shows them no link to it', async () => {
    const p = await newPage();
    await signIn(p, 'alice@example.test');
    expect(await p.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents()).not.toContain('Overview');
    const res = await p.goto(`${t.publicUrl}/admin`);
    expect(res!.status()).toBe(404);
    expect(await p.content()).not.toContain('Copies decided');
    await p.close();
  });

  it('refuses the overview at once to an admin whose flag was revoked', async () => {
    const p = await newPage();
    await signIn(p, 'ops@example.test');
    expect((await p.goto(`${t.publicUrl}/admin`))!.status()).toBe(200);
    await setAdmin(engine.db, 'ops@example.test', false);
    try {
      expect((await p.goto(`${t.publicUrl}/admin`))!.status()).toBe(404);
    } finally {
      await setAdmin(engine.db, 'ops@example.test', true);
    }
    await p.close();
  });
});
