/**
 * Clients of the recipient's site for tests. `WebClient` is a small cookie-keeping HTTP client (fetch,
 * no redirects followed) for HTTP-level tests; `launchChromium` starts Debian's headless Chromium
 * through playwright-core for browser tests (never a browser that Playwright downloads).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { waitFor, type Captured, type Sink } from './sinks.js';

export interface WebResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Location header, for redirects. */
  location?: string;
}

export class WebClient {
  readonly cookies = new Map<string, string>();
  /** Extra headers on every request (X-Forwarded-For in rate-limit tests). */
  headers: Record<string, string> = {};

  constructor(readonly base: string) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(method: string, path: string, body?: string | FormData | URLSearchParams, headers: Record<string, string> = {}): Promise<WebResponse> {
    const res = await fetch(path.startsWith('http') ? path : `${this.base}${path}`, {
      method,
      redirect: 'manual',
      headers: { ...this.headers, ...(this.cookies.size ? { cookie: this.cookieHeader() } : {}), ...headers },
      body,
    });
    this.keep(res);
    return { status: res.status, headers: res.headers, text: await res.text(), location: res.headers.get('location') ?? undefined };
  }

  get(path: string, headers?: Record<string, string>): Promise<WebResponse> {
    return this.request('GET', path, undefined, headers);
  }

  /** POSTs a form (urlencoded); repeated fields as arrays. */
  post(path: string, form: Record<string, string | string[] | undefined>, headers?: Record<string, string>): Promise<WebResponse> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) {
      if (v === undefined) continue;
      for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    }
    return this.request('POST', path, body, headers);
  }

  /** The CSRF token of the first form on a page. */
  static csrf(html: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    if (!m) throw new Error('no CSRF token on the page');
    return m[1]!;
  }

  /** GETs a page and returns its CSRF token. */
  async csrfOf(path: string): Promise<string> {
    const page = await this.get(path);
    return WebClient.csrf(page.text);
  }
}

/** The sign-in link in a captured mail, if it carries one. */
export function signInLinkIn(mail: Captured): string | undefined {
  return /https?:\/\/[^\s/]+(?:\/[^\s]*)?\/signin\/[A-Za-z0-9_-]{43}/.exec(mail.raw.toString('utf8'))?.[0];
}

/** Debian's Chromium, the only browser the tests use. */
export const CHROMIUM = process.env.CRGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * Starts headless Chromium with a fresh, empty profile (Playwright passes it as --user-data-dir);
 * closing removes the profile.
 */
export async function launchChromium(options: { javaScriptEnabled?: boolean } = {}): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'crgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    ...options,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where browser tests write screenshots: docs/screenshots/ with CRGATE_UPDATE_SCREENSHOTS=1, else a temporary folder. */
export function screenshotFolder(): string {
  const dir = process.env.CRGATE_UPDATE_SCREENSHOTS
    ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
    : mkdtempSync(join(tmpdir(), 'crgate-screens-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Signs in as a recipient does, keyboard only: the address typed into the field found by its label,
 * Enter, the link from the sign-in mail caught by `mailbox`, then the confirming button. Ends on the
 * held-mail page.
 */
export async function signInInBrowser(p: Page, publicUrl: string, mailbox: Sink, address: string): Promise<void> {
  await p.goto(`${publicUrl}/signin`);
  const before = mailbox.messages.length;
  await p.getByRole('textbox', { name: 'Mail address' }).fill(address);
  await p.getByRole('textbox', { name: 'Mail address' }).press('Enter');
  await p.getByRole('heading', { name: 'Check your mail' }).waitFor();
  await waitFor(() => mailbox.messages.slice(before).some((m) => signInLinkIn(m)), 'the sign-in mail');
  await p.goto(signInLinkIn(mailbox.messages.slice(before).find((m) => signInLinkIn(m))!)!);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('heading', { name: 'Held mail' }).waitFor();
}
