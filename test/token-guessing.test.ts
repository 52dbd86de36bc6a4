/**
 * Guessing link tokens over real HTTP against the `crgate` process: unknown /c/ and /signin/ tokens are
 * counted per client address, past the limit that client gets 429 with Retry-After and the crossing is
 * logged, while real links keep working for every other client. Tokens are stored only as hashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { runCli, startEngineReady, type EngineProcess } from './helpers/engine-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { waitFor, type Sink } from './helpers/sinks.js';
import { signInLinkIn, WebClient } from './helpers/browser.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
const LIMIT = 5;
const SECRET = `test-secret-${randomBytes(24).toString('hex')}`;
/** Every secret value this run handled: none may appear in the engine's log. */
const secrets = new Set<string>([SECRET]);

let ipCounter = 1;
/** Each client its own address (the engine trusts X-Forwarded-For), so per-client counts stay apart. */
function client(base: string): WebClient {
  const c = new WebClient(base);
  c.headers['x-forwarded-for'] = `198.51.100.${ipCounter++}`;
  return c;
}

const guess = () => randomBytes(32).toString('base64url');

describe('link token guessing', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: EngineProcess;

  async function challengeLink(sender: string): Promise<string> {
    const before = smtpSink.messages.length;
    expect((await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], FIXTURE.replaceAll('bob@remote.test', sender)))[0]!.code).toBe(250);
    await waitFor(() => smtpSink.messages.length > before, 'a challenge');
    const text = smtpSink.messages.at(-1)!.raw.toString('utf8');
    const path = new URL(/https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(text)![0]).pathname;
    secrets.add(path.split('/').pop()!);
    return path;
  }

  async function signInLink(): Promise<string> {
    const c = client(t.publicUrl);
    const before = lmtpSink.messages.length;
    expect((await c.post('/signin/link', { _csrf: await c.csrfOf('/signin'), address: 'alice@example.test' })).status).toBe(200);
    await waitFor(() => lmtpSink.messages.slice(before).some((m) => signInLinkIn(m)), 'a sign-in mail');
    const path = new URL(signInLinkIn(lmtpSink.messages.slice(before).find((m) => signInLinkIn(m))!)!, t.publicUrl).pathname;
    secrets.add(path.split('/').pop()!);
    return path;
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      CRGATE_WEB_TRUST_PROXY: 'true',
      CRGATE_WEB_BAD_TOKENS_PER_CLIENT: String(LIMIT),
      CRGATE_SECRET: SECRET,
    });
    ({ lmtpSink, smtpSink } = t);
    expect((await runCli(['users', 'add', 'alice@example.test'], t.env)).code).toBe(0);
    engine = await startEngineReady(t.env);
  });

  afterAll(async () => {
    await engine?.kill('SIGKILL');
    await t?.cleanup();
  });

  it('answers 429 with Retry-After to a client after too many unknown /c/ tokens, even for a real link, and logs it once', async () => {
    const link = await challengeLink('guess1@remote.test');
    const guesser = client(t.publicUrl);
    for (let i = 0; i < LIMIT; i++) {
      // GETs, confirming POSTs and malformed tokens all count.
      const path = i % 3 === 0 ? `/c/${guess()}` : i % 3 === 1 ? `/c/${"'; DROP TABLE challenges; --"}` : `/c/${guess()}`;
      const res = i % 3 === 2 ? await guesser.post(path, {}) : await guesser.get(path);
      expect(res.status, path).toBe(404);
    }
    for (const res of [await guesser.get(`/c/${guess()}`), await guesser.get(link), await guesser.post(`${link}/no-challenge`, {})]) {
      expect(res.status).toBe(429);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(3500);
      expect(retryAfter).toBeLessThanOrEqual(3600);
    }
    await engine.waitForLog((l) => l.event === 'web.token_guessing', 'the guessing log line');
    const lines = engine.logs.filter((l) => l.event === 'web.token_guessing');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ link: 'challenge', failures: LIMIT, client: guesser.headers['x-forwarded-for'], level: 'warn' });
    // Nothing was confirmed by the blocked client.
    expect((await t.db.query(`SELECT status FROM challenges WHERE sender = 'guess1@remote.test'`)).rows).toEqual([{ status: 'sent' }]);
  });

  it('counts a client by the address its proxy appended, not by the ones it wrote before it', async () => {
    const c = new WebClient(t.publicUrl);
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i++) {
      c.headers['x-forwarded-for'] = `10.7.${i}.1, 203.0.113.250`;
      statuses.push((await c.get(`/c/${guess()}`)).status);
    }
    expect(statuses).toEqual([...Array(LIMIT).fill(404), 429]);
  });

  it('answers a forwarded address that is not an IP address like any other guess, not with an error', async () => {
    const c = new WebClient(t.publicUrl);
    c.headers['x-forwarded-for'] = 'x'.repeat(6000);
    expect((await c.get(`/c/${guess()}`)).status).toBe(404);
    expect(engine.logs.filter((l) => l.event === 'web.error')).toEqual([]);
  });

  it('counts a client whose proxy forwards address:port by that address, so one guesser does not block every client', async () => {
    const link = await challengeLink('guess5@remote.test');
    const guesser = new WebClient(t.publicUrl);
    guesser.headers['x-forwarded-for'] = '192.0.2.77:51234';
    for (let i = 0; i < LIMIT; i++) expect((await guesser.get(`/c/${guess()}`)).status).toBe(404);
    expect((await guesser.get(`/c/${guess()}`)).status).toBe(429);
    for (const xff of ['192.0.2.78:40000', '[2001:db8::78]:40000']) {
      const sender = new WebClient(t.publicUrl);
      sender.headers['x-forwarded-for'] = xff;
      expect((await sender.get(`/c/${guess()}`)).status, xff).toBe(404);
      expect((await sender.get(link)).status, xff).toBe(200);
    }
  });

  it('keeps real /c/ links working for other clients while one client is blocked', async () => {
    const link = await challengeLink('guess2@remote.test');
    const guesser = client(t.publicUrl);
    for (let i = 0; i <= LIMIT; i++) await guesser.get(`/c/${guess()}`);
    expect((await guesser.get(`/c/${guess()}`)).status).toBe(429);
    const sender = client(t.publicUrl);
    expect((await sender.get(link)).status).toBe(200);
    const confirmed = await sender.post(link, {});
    expect(confirmed.status).toBe(200);
    expect(confirmed.text).toContain('Thank you');
  });

  it("tells a throttled client so in the language its browser asks for, on a confirmation link", async () => {
    const guesser = client(t.publicUrl);
    guesser.headers['accept-language'] = 'de-DE,de;q=0.9';
    for (let i = 0; i < LIMIT; i++) expect((await guesser.get(`/c/${guess()}`)).status).toBe(404);
    const refused = await guesser.get(`/c/${guess()}`);
    expect(refused.status).toBe(429);
    expect(refused.text).toContain('<html lang="de">');
    expect(refused.text).toContain('Aus Ihrem Netz wurden zu viele Links geöffnet, die es nicht gibt.');
  });

  it('does not count links that exist, however often one client opens them (spent and expired too)', async () => {
    const link = await challengeLink('guess3@remote.test');
    const visitor = client(t.publicUrl);
    for (let i = 0; i < 3 * LIMIT; i++) expect((await visitor.get(link)).status).toBe(200);
    expect((await visitor.post(link, {})).status).toBe(200);
    for (let i = 0; i < 2 * LIMIT; i++) expect((await visitor.get(link)).status).toBe(410);
    // Four unknown tokens still pass: the real ones left no count behind.
    for (let i = 0; i < LIMIT - 1; i++) expect((await visitor.get(`/c/${guess()}`)).status).toBe(404);
  });

  it('throttles guessing of /signin/ link tokens the same way, and real sign-in links work for others', async () => {
    const guesser = client(t.publicUrl);
    for (let i = 0; i < LIMIT; i++) expect((await guesser.get(`/signin/${guess()}`)).status).toBe(404);
    expect((await guesser.get(`/signin/${guess()}`)).status).toBe(429);
    await engine.waitForLog((l) => l.event === 'web.token_guessing' && l.link === 'signin', 'the sign-in guessing log line');
    const link = await signInLink();
    expect((await guesser.get(link)).status).toBe(429);
    const owner = client(t.publicUrl);
    const landing = await owner.get(link);
    expect(landing.status).toBe(200);
    expect((await owner.post(link, { _csrf: WebClient.csrf(landing.text) })).status).toBe(303);
    const session = owner.cookies.get('crgate_session')!;
    secrets.add(session);
    secrets.add(session.split('.')[0]!);
  });

  it("counts no link that a page loads as an image or a frame, so another site cannot lock its visitors out of their links", async () => {
    const signIn = await signInLink();
    const confirm = await challengeLink('guess6@remote.test');
    const visitor = client(t.publicUrl);
    // What Chromium sends for <img src> and <iframe src> on a page of another site.
    const image = { 'sec-fetch-dest': 'image', 'sec-fetch-mode': 'no-cors', 'sec-fetch-site': 'cross-site' };
    const frame = { 'sec-fetch-dest': 'iframe', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site' };
    for (let i = 0; i < 2 * LIMIT; i++) {
      for (const headers of [image, frame]) {
        expect((await visitor.get(`/signin/${guess()}`, headers)).status).toBe(404);
        expect((await visitor.get(`/c/${guess()}`, headers)).status).toBe(404);
        expect((await visitor.post(`/c/${guess()}`, {}, headers)).status).toBe(404);
      }
    }
    // Nor is anything looked up for such a request: a real link loaded that way answers the same 404,
    // so claiming to be an image gets a guesser past the limit with nothing to learn.
    expect((await visitor.get(signIn, image)).status).toBe(404);
    expect((await visitor.post(confirm, {}, frame)).status).toBe(404);
    expect((await t.db.query(`SELECT status FROM challenges WHERE sender = 'guess6@remote.test'`)).rows).toEqual([{ status: 'sent' }]);
    // The visitor then opens their links as pages: they work.
    const page = { 'sec-fetch-dest': 'document', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none' };
    expect((await visitor.get(signIn, page)).status).toBe(200);
    expect((await visitor.get(confirm, page)).status).toBe(200);
    // Guesses opened as pages count as before.
    for (let i = 0; i < LIMIT; i++) expect((await visitor.get(`/signin/${guess()}`, page)).status).toBe(404);
    expect((await visitor.get(`/signin/${guess()}`, page)).status).toBe(429);
  });

  it('stores challenge and sign-in tokens only as SHA-256 hashes', async () => {
    const challengeToken = (await challengeLink('guess4@remote.test')).split('/').pop()!;
    const signInToken = (await signInLink()).split('/').pop()!;
    const dump = JSON.stringify([
      (await t.db.query('SELECT * FROM challenges')).rows,
      (await t.db.query('SELECT * FROM sign_in_links')).rows,
      (await t.db.query('SELECT * FROM outbox')).rows,
    ]);
    expect(dump).not.toContain(challengeToken);
    expect(dump).not.toContain(signInToken);
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect((await t.db.query('SELECT 1 FROM challenges WHERE token_hash = $1', [sha(challengeToken)])).rowCount).toBe(1);
    expect((await t.db.query('SELECT 1 FROM sign_in_links WHERE token_hash = $1', [sha(signInToken)])).rowCount).toBe(1);
  });

  it('writes no token, session id or secret to its log', async () => {
    // Runs last: every link and session of this file was handled by then.
    const log = engine.output();
    expect(log.length).toBeGreaterThan(1000);
    expect(secrets.size).toBeGreaterThanOrEqual(6);
    expect([...secrets].filter((s) => log.includes(s))).toEqual([]);
    expect(log).not.toContain(createHash('sha256').update(SECRET).digest('hex'));
  });
});
