/**
 * The sender's confirmation page in a real browser (Debian's headless Chromium through playwright-core):
 * it has to work for a stranger on any phone, so long addresses must not make it wider than the screen.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { addUser } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from '../helpers/environment.js';
import { startInProcess } from '../helpers/in-process.js';
import { lmtpSend } from '../helpers/lmtp-client.js';
import { waitFor, type Sink } from '../helpers/sinks.js';
import { chromiumAvailable, launchChromium } from '../helpers/browser.js';

const FIXTURE = readFileSync(new URL('../fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
// Real addresses are this long: 64 and 71 characters, without a space to break at.
const RECIPIENT = 'christopher.alexander.vanderbilt-montgomery@research.example.test';
const SENDER = 'maximilian.alexander.schwarzenegger-hohenzollern@department.remote.test';
const OTHER_SENDER = 'anna-katharina.leutheusser-schnarrenberger@ministry.remote.test';

describe.skipIf(!chromiumAvailable() && !process.env.CI)('confirmation page in Chromium', () => {
  let t: MailTestEnvironment;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;

  async function challengeLink(subject: string, sender = SENDER): Promise<string> {
    const before = smtpSink.messages.length;
    const raw = FIXTURE.replace('Subject: Lunch on Thursday?', `Subject: ${subject}`).replace('To: Alice <alice@example.test>', `To: <${RECIPIENT}>`);
    expect((await lmtpSend(t.lmtpPort, sender, [RECIPIENT], raw))[0]!.code).toBe(250);
    await waitFor(() => smtpSink.messages.length > before, 'a challenge');
    return /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(smtpSink.messages.at(-1)!.raw.toString('utf8'))![0];
  }

  /** Where a character of the subject stands on the screen (its left edge). */
  async function subjectCharX(index: number): Promise<number> {
    return (await page.evaluate(`(() => {
      const dd = [...document.querySelectorAll('dt')].find((dt) => dt.textContent === 'Subject').nextElementSibling;
      const walker = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
      const text = walker.nextNode();
      const range = document.createRange();
      range.setStart(text, ${index});
      range.setEnd(text, ${index + 1});
      return range.getBoundingClientRect().x;
    })()`)) as number;
  }

  async function expectNoSideways(what: string): Promise<void> {
    const { scroll, client } = (await page.evaluate('({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })')) as {
      scroll: number;
      client: number;
    };
    expect(scroll, `${what}: page width`).toBeLessThanOrEqual(client);
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    ({ smtpSink } = t);
    engine = await startInProcess(t.env);
    await addUser(engine.db, RECIPIENT);
    chromium = await launchChromium();
    page = chromium.context.pages()[0] ?? (await chromium.context.newPage());
    await page.setViewportSize({ width: 320, height: 640 });
  });

  afterAll(async () => {
    await chromium?.close();
    await engine?.stop();
    await t?.cleanup();
  });

  it('fits a 320 px phone screen with long addresses: the page, the thank-you page and the opt-out page never scroll sideways', async () => {
    await page.goto(await challengeLink('Quarterly report'));
    await expectNoSideways('confirm page');
    await page.getByRole('button', { name: 'Yes, I sent it: deliver my mail' }).click();
    await page.getByRole('heading', { name: 'Thank you' }).waitFor();
    await expectNoSideways('thank-you page');

    await page.goto(await challengeLink('Second report', OTHER_SENDER));
    await page.getByRole('button', { name: 'Do not send me such requests again' }).click();
    await page.getByRole('heading', { name: 'You will not be asked again' }).waitFor();
    await expectNoSideways('opt-out page');
  });

  it('shows a right-to-left subject in its own direction: the "!" ending a Hebrew subject stands at its left', async () => {
    const hebrew = '\u05e9\u05dc\u05d5\u05dd \u05dc\u05db\u05d5\u05dc\u05dd!';
    await page.setViewportSize({ width: 1280, height: 900 });
    try {
      await page.goto(await challengeLink(`=?utf-8?b?${Buffer.from(hebrew).toString('base64')}?=`, 'rtl@remote.test'));
      const bang = await subjectCharX(hebrew.length - 1);
      const firstLetter = await subjectCharX(0);
      // Read right to left, the first letter is the rightmost and the closing "!" the leftmost.
      expect(bang).toBeLessThan(firstLetter);
    } finally {
      await page.setViewportSize({ width: 320, height: 640 });
    }
  });
});
