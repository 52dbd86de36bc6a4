/**
 * The recipient site's security properties over HTTP, against a real engine: one user cannot reach
 * another's mail or lists by changing ids (every route), every form needs its CSRF token, sign-in links
 * work once and only in time, no answer tells whether an address is a user, sign-in attempts are
 * limited per address and per client, and what a sender wrote is escaped.
 *
 * This engine mails sign-in links through the relay (CRGATE_WEB_SIGNIN_MAIL=relay), so that mode is
 * covered here; quarantine-site.test.ts covers the default (straight to the mailbox).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { addUser, findUserByAddress, QUARANTINE_ACTIONS, setPassword } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor, type Sink } from './helpers/sinks.js';
import { signInLinkIn, WebClient } from './helpers/browser.js';

type Mail = ConstructorParameters<typeof MailComposer>[0];

function compose(mail: Mail): Promise<Buffer> {
  return new Promise((resolve, reject) => new MailComposer({ date: new Date(), ...mail }).compile().build((err, buf) => (err ? reject(err) : resolve(buf))));
}

let ipCounter = 1;
/** Each client gets its own address (the engine trusts X-Forwarded-For), so per-client limits stay apart. */
function client(base: string): WebClient {
  const c = new WebClient(base);
  c.headers['x-forwarded-for'] = `198.51.100.${ipCounter++}`;
  return c;
}

describe('recipient site security', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let a: WebClient;
  let b: WebClient;
  let idA: number;
  let idB: number;
  let entryB: number;

  async function send(from: string, to: string, mail: Mail): Promise<number> {
    const raw = await compose({ from, to, ...mail });
    const [reply] = await lmtpSend(t.lmtpPort, from.replace(/^.*<|>$/g, ''), [to], raw);
    expect(reply!.code).toBe(250);
    const { rows } = await t.db.query('SELECT max(id)::int AS id FROM message_recipients');
    return rows[0].id;
  }

  async function askLink(c: WebClient, address: string) {
    const csrf = await c.csrfOf('/signin');
    return c.post('/signin/link', { _csrf: csrf, address });
  }

  async function mailedLink(c: WebClient, address: string): Promise<string> {
    const before = smtpSink.messages.length;
    expect((await askLink(c, address)).status).toBe(200);
    await waitFor(() => smtpSink.messages.slice(before).some((m) => signInLinkIn(m)), 'a sign-in mail');
    return signInLinkIn(smtpSink.messages.slice(before).find((m) => signInLinkIn(m))!)!;
  }

  async function signIn(address: string): Promise<WebClient> {
    const c = client(t.publicUrl);
    const link = await mailedLink(c, address);
    const landing = await c.get(link);
    expect((await c.post(link, { _csrf: WebClient.csrf(landing.text) })).status).toBe(303);
    return c;
  }

  async function statusOf(id: number): Promise<string> {
    return (await t.db.query('SELECT status FROM message_recipients WHERE id = $1', [id])).rows[0].status;
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      CRGATE_WEB_TRUST_PROXY: 'true',
      CRGATE_WEB_SIGNIN_MAIL: 'relay',
      CRGATE_WEB_SIGNIN_PER_ADDRESS: '4',
      CRGATE_WEB_SIGNIN_PER_CLIENT: '6',
    }, { dsn: true });
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    for (const u of ['anna@example.test', 'bert@example.test', 'carl@example.test', 'dina@example.test']) await addUser(engine.db, u);
    idA = await send('Sam <sam@remote.test>', 'anna@example.test', { subject: 'For Anna', text: 'anna only' });
    idB = await send('Tom <tom@remote.test>', 'bert@example.test', { subject: 'Secret for Bert', text: 'bert only' });
    const bert = (await findUserByAddress(engine.db, 'bert@example.test'))!;
    const entry = await t.db.query(
      `INSERT INTO list_entries (user_id, list, kind, value, source) VALUES ($1, 'white', 'address', 'friend@remote.test', 'manual') RETURNING id`,
      [bert.id],
    );
    entryB = entry.rows[0].id;
    a = await signIn('anna@example.test');
    b = await signIn('bert@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('mails the link through the relay from the null sender, with NOTIFY=NEVER', async () => {
    const mail = smtpSink.messages.find((m) => m.rcptTo.includes('anna@example.test') && signInLinkIn(m))!;
    expect(mail.mailFrom).toBe('');
    expect(mail.rcptArgs[0]).toMatchObject({ NOTIFY: 'NEVER' });
    expect(lmtpSink.messages.some((m) => signInLinkIn(m))).toBe(false);
  });

  it("gives user A none of B's messages by changing ids, on any route", async () => {
    expect((await a.get(`/q/${idB}`)).status).toBe(404);
    expect((await a.get(`/q/${idB}/html`)).status).toBe(404);
    const list = await a.get('/q');
    expect(list.text).toContain('For Anna');
    expect(list.text).not.toContain('Secret for Bert');
    expect((await a.get('/q?q=Secret')).text).not.toContain('Secret for Bert');
    const csrf = await a.csrfOf('/q');
    for (const action of QUARANTINE_ACTIONS) {
      const res = await a.post('/q/actions', { _csrf: csrf, action, ids: [String(idB)] });
      expect(res.location, action).toBe(`/q?done=${action}&n=0`);
      expect(await statusOf(idB), action).toBe('held');
    }
    // A's own lists gained nothing from B's sender, and no job was queued for B's copy.
    const anna = (await findUserByAddress(engine.db, 'anna@example.test'))!;
    expect((await t.db.query(`SELECT 1 FROM list_entries WHERE user_id = $1 AND value = 'tom@remote.test'`, [anna.id])).rowCount).toBe(0);
    expect((await t.db.query(`SELECT 1 FROM classifier_trained WHERE message_key = (SELECT m.sha256 FROM messages m JOIN message_recipients r ON r.message_id = m.id WHERE r.id = $1)`, [idB])).rowCount).toBe(0);
    // Mixed ids: only A's own copy is touched.
    const mixed = await a.post('/q/actions', { _csrf: csrf, action: 'spam', ids: [String(idA), String(idB)] });
    expect(mixed.location).toBe('/q?done=spam&n=1');
    expect(await statusOf(idA)).toBe('discarded');
    expect(await statusOf(idB)).toBe('held');
    // B's list entry cannot be removed, nor seen, by A.
    const listsCsrf = await a.csrfOf('/lists');
    expect((await a.post('/lists/remove', { _csrf: listsCsrf, ids: [String(entryB)] })).location).toBe('/lists?done=removed&n=0');
    expect((await t.db.query('SELECT 1 FROM list_entries WHERE id = $1', [entryB])).rowCount).toBe(1);
    expect((await a.get('/lists')).text).not.toContain('friend@remote.test');
    expect((await a.get('/lists/export.csv')).text).not.toContain('friend@remote.test');
    // B still sees their own.
    expect((await b.get(`/q/${idB}`)).status).toBe(200);
  });

  it('sends visitors without a session to sign in and refuses their POSTs', async () => {
    const anon = client(t.publicUrl);
    for (const path of [`/q`, `/q/${idA}`, `/q/${idA}/html`, '/q/link?u=https%3A%2F%2Fexample.net%2F', '/lists', '/lists/export.csv', '/settings']) {
      const res = await anon.get(path);
      expect(res.status, path).toBe(303);
      expect(res.location, path).toBe('/signin');
    }
    for (const path of ['/q/actions', '/lists/add', '/lists/remove', '/lists/import', '/settings', '/settings/password', '/signout']) {
      expect((await anon.post(path, { _csrf: 'x', action: 'release', ids: [String(idB)] })).status, path).toBe(403);
    }
    expect(await statusOf(idB)).toBe('held');
    // An oversized form is refused as the client's error, not logged as ours.
    const big = await anon.request('POST', '/signin/link', `address=${'x'.repeat(200_000)}`, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(big.status).toBe(413);
  });

  it('ignores a session cookie whose signature does not match, and one whose session expired', async () => {
    const cookie = a.cookies.get('crgate_session')!;
    const forged = client(t.publicUrl);
    forged.cookies.set('crgate_session', `${cookie.slice(0, -2)}${cookie.endsWith('AA') ? 'BB' : 'AA'}`);
    expect((await forged.get('/q')).status).toBe(303);
    const c = await signIn('dina@example.test');
    const dina = (await findUserByAddress(engine.db, 'dina@example.test'))!;
    await t.db.query(`UPDATE web_sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [dina.id]);
    expect((await c.get('/q')).status).toBe(303);
  });

  it('refuses every form without its CSRF token, or with another session\'s, and changes nothing', async () => {
    const tokenA = await a.csrfOf('/q');
    const tokenB = await b.csrfOf('/q');
    expect(tokenA).not.toBe(tokenB);
    const forms: Array<[string, Record<string, string | string[]>]> = [
      ['/q/actions', { action: 'delete', ids: [String(idA)] }],
      ['/lists/add', { list: 'black', value: 'x@remote.test' }],
      ['/lists/remove', { ids: ['1'] }],
      ['/settings', { digest: 'off', language: 'de' }],
      ['/settings/password', { password: 'abcdefghij', repeat: 'abcdefghij' }],
      ['/signout', {}],
    ];
    for (const [path, form] of forms) {
      expect((await a.post(path, form)).status, `${path} without token`).toBe(403);
      expect((await a.post(path, { ...form, _csrf: 'A'.repeat(43) })).status, `${path} with a wrong token`).toBe(403);
      expect((await a.post(path, { ...form, _csrf: tokenB })).status, `${path} with B's token`).toBe(403);
    }
    const importForm = new FormData();
    importForm.append('file', new Blob(['white,x@remote.test\n']), 'l.csv');
    expect((await a.request('POST', '/lists/import', importForm)).status).toBe(403);
    // A right token from another site's page is refused too.
    expect((await a.post('/lists/add', { _csrf: tokenA, list: 'black', value: 'y@remote.test' }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await a.post('/lists/add', { _csrf: tokenA, list: 'black', value: 'y@remote.test' }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    // Our own pages make browsers send Origin: null (Referrer-Policy: no-referrer); that alone is no reason to refuse.
    expect((await a.post('/lists/add', { _csrf: tokenA, list: 'black', value: 'z@remote.test' }, { origin: 'null', 'sec-fetch-site': 'same-origin' })).status).toBe(303);
    await a.post('/lists/remove', { _csrf: tokenA, ids: (await t.db.query(`SELECT id::text FROM list_entries WHERE value = 'z@remote.test'`)).rows.map((r) => r.id) });

    expect(await statusOf(idA)).toBe('discarded');
    const anna = (await findUserByAddress(engine.db, 'anna@example.test'))!;
    const { rows } = await t.db.query('SELECT digest_frequency, password_hash FROM users WHERE id = $1', [anna.id]);
    expect(rows[0]).toEqual({ digest_frequency: 'daily', password_hash: null });
    expect((await t.db.query(`SELECT 1 FROM list_entries WHERE user_id = $1`, [anna.id])).rowCount).toBe(0);
    expect((await a.get('/q')).status).toBe(200);

    // The sign-in forms (no session yet) need their token as well.
    const anon = client(t.publicUrl);
    await anon.get('/signin');
    const before = smtpSink.messages.length;
    expect((await anon.post('/signin/link', { address: 'carl@example.test' })).status).toBe(403);
    expect((await anon.post('/signin/password', { address: 'carl@example.test', password: 'whatever1' })).status).toBe(403);
    // Another visitor's token does not fit this visitor's cookie.
    const other = client(t.publicUrl);
    const otherToken = await other.csrfOf('/signin');
    expect((await anon.post('/signin/link', { _csrf: otherToken, address: 'carl@example.test' })).status).toBe(403);
    await sleep(300);
    expect(smtpSink.messages.length).toBe(before);
  });

  it('refuses a spent, an expired and an unknown sign-in link', async () => {
    const c = client(t.publicUrl);
    const link = await mailedLink(c, 'carl@example.test');
    const landing = await c.get(link);
    const csrf = WebClient.csrf(landing.text);
    // Without the token the POST is refused and the link is not spent.
    expect((await c.post(link, {})).status).toBe(403);
    expect((await c.post(link, { _csrf: csrf })).status).toBe(303);
    const again = client(t.publicUrl);
    const spentGet = await again.get(link);
    expect(spentGet.status).toBe(410);
    expect(spentGet.text).toContain('already used');
    expect((await again.post(link, { _csrf: await again.csrfOf('/signin') })).status).toBe(410);
    expect(again.cookies.has('crgate_session')).toBe(false);

    const c2 = client(t.publicUrl);
    const late = await mailedLink(c2, 'carl@example.test');
    const lateCsrf = WebClient.csrf((await c2.get(late)).text);
    await t.db.query(`UPDATE sign_in_links SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`);
    expect((await c2.get(late)).status).toBe(410);
    expect((await c2.post(late, { _csrf: lateCsrf })).status).toBe(410);
    expect(c2.cookies.has('crgate_session')).toBe(false);

    const unknown = `${t.publicUrl}/signin/${randomBytes(32).toString('base64url')}`;
    expect((await c2.get(unknown)).status).toBe(404);
    expect((await c2.post(unknown, { _csrf: lateCsrf })).status).toBe(404);
    expect((await c2.get('/signin/short')).status).toBe(404);
  });

  it("sends a GET of a sign-in form's own address to the sign-in page, and counts it as no guessed link", async () => {
    // After a refused attempt the address bar shows /signin/password or /signin/link; going there again
    // (from history, or the address bar's completion) is a GET of it.
    const c = client(t.publicUrl);
    for (let i = 0; i < 11; i++) {
      for (const path of ['/signin/link', '/signin/password']) {
        const res = await c.get(path);
        expect(res.status, path).toBe(303);
        expect(res.location, path).toBe('/signin');
      }
    }
    // 22 of them, past the 20 unknown link tokens a client may open in an hour: its links still answer.
    expect((await c.get(`/signin/${randomBytes(32).toString('base64url')}`)).status).toBe(404);
  });

  it('answers the same whether or not an address is a user', async () => {
    // Pages differ only in the address typed and in each visitor's own CSRF token.
    const plain = (html: string, address: string) => html.replaceAll(address, 'X').replace(/name="_csrf" value="[^"]+"/g, '');
    const user = client(t.publicUrl);
    const stranger = client(t.publicUrl);
    const before = smtpSink.messages.length;
    const r1 = await askLink(user, 'dina@example.test');
    const r2 = await askLink(stranger, 'nobody@example.test');
    expect(r1.status).toBe(r2.status);
    expect(plain(r1.text, 'dina@example.test')).toBe(plain(r2.text, 'nobody@example.test'));
    const cookieNames = (r: { headers: Headers }) => r.headers.getSetCookie().map((l) => l.split('=')[0]);
    expect(cookieNames(r1)).toEqual(cookieNames(r2));
    await waitFor(() => smtpSink.messages.length > before, 'the mail to the user');
    await sleep(300);
    expect(smtpSink.messages.slice(before).map((m) => m.rcptTo)).toEqual([['dina@example.test']]);

    const p1 = await user.post('/signin/password', { _csrf: await user.csrfOf('/signin'), address: 'dina@example.test', password: 'not the password' });
    const p2 = await stranger.post('/signin/password', { _csrf: await stranger.csrfOf('/signin'), address: 'nobody@example.test', password: 'not the password' });
    expect(p1.status).toBe(401);
    expect(plain(p1.text, 'dina@example.test')).toBe(plain(p2.text, 'nobody@example.test'));
  });

  it("answers a request for a link before looking the user up or storing the link, so a user's answer takes no longer", async () => {
    await addUser(engine.db, 'emil@example.test');
    const c = client(t.publicUrl);
    const csrf = await c.csrfOf('/signin');
    const before = smtpSink.messages.length;
    // While another transaction holds sign_in_links, storing a link waits: an answer that waited for it
    // would take longer for a user than for a stranger, telling them apart (as a slower commit does).
    const lock = await t.db.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE sign_in_links IN ACCESS EXCLUSIVE MODE');
      const answer = await Promise.race([c.post('/signin/link', { _csrf: csrf, address: 'emil@example.test' }), sleep(5000).then(() => undefined)]);
      expect(answer?.status, 'answered before the link was stored').toBe(200);
      expect(answer?.text).toContain('Check your mail');
      expect(smtpSink.messages.length).toBe(before);
    } finally {
      await lock.query('ROLLBACK');
      lock.release();
    }
    await waitFor(() => smtpSink.messages.slice(before).some((m) => m.rcptTo.includes('emil@example.test') && signInLinkIn(m)), 'the sign-in mail, once the link could be stored');
  });

  it('limits sign-in attempts per address, users and strangers alike', async () => {
    // Four a hour per address here; dina has used two (the link and the password above) and one more in the earlier test.
    const results: Record<string, number[]> = { 'bert@example.test': [], 'nobody2@example.test': [] };
    for (const address of Object.keys(results)) {
      for (let i = 0; i < 5; i++) results[address]!.push((await askLink(client(t.publicUrl), address)).status);
    }
    // bert used one attempt to sign in before.
    expect(results['bert@example.test']).toEqual([200, 200, 200, 429, 429]);
    expect(results['nobody2@example.test']).toEqual([200, 200, 200, 200, 429]);
    const limited = await askLink(client(t.publicUrl), 'BERT+x@example.test');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3600');
  });

  it('keeps the password working for an address whose links somebody keeps asking for', async () => {
    await addUser(engine.db, 'fritz@example.test');
    await setPassword(engine.db, 'fritz@example.test', 'fritz password 1');
    // Anybody may ask for fritz's links until the per-address limit (four an hour here) answers 429.
    const asked: number[] = [];
    for (let i = 0; i < 5; i++) asked.push((await askLink(client(t.publicUrl), 'fritz@example.test')).status);
    expect(asked).toEqual([200, 200, 200, 200, 429]);
    const tryPassword = async (password: string) => {
      const c = client(t.publicUrl);
      return (await c.post('/signin/password', { _csrf: await c.csrfOf('/signin'), address: 'fritz@example.test', password })).status;
    };
    // The owner still signs in with the password...
    expect(await tryPassword('fritz password 1')).toBe(303);
    // ...and passwords tried for the address have a limit of their own: four, then 429 even for the right one.
    const tried = [await tryPassword('guess one'), await tryPassword('guess two'), await tryPassword('guess three'), await tryPassword('fritz password 1')];
    expect(tried).toEqual([401, 401, 401, 429]);
  });

  it('limits guesses at the current password in the settings, as sign-ins are limited', async () => {
    await setPassword(engine.db, 'carl@example.test', 'carl original password');
    const carl = await signIn('carl@example.test');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await carl.post('/settings/password', { _csrf: await carl.csrfOf('/settings'), current: `guess ${i}`, password: 'new password long enough', repeat: 'new password long enough' });
      statuses.push(res.status);
    }
    // Four an hour per user here (the per-address sign-in limit).
    expect(statuses).toEqual([400, 400, 400, 400, 429, 429]);
  });

  it('lets only a session begun by a mailed link in the last 15 minutes set a first password, so a stolen older session cannot', async () => {
    await addUser(engine.db, 'ella@example.test');
    const ella = (await findUserByAddress(engine.db, 'ella@example.test'))!;
    const stolen = await signIn('ella@example.test');
    await t.db.query(`UPDATE web_sessions SET created_at = created_at - interval '20 minutes' WHERE user_id = $1`, [ella.id]);
    const settings = await stolen.get('/settings');
    expect(settings.text).not.toContain('name="repeat"');
    expect(settings.text).toContain('sign in with a mailed link</a> again');
    const refused = await stolen.post('/settings/password', { _csrf: WebClient.csrf(settings.text), password: 'thief password 1', repeat: 'thief password 1' });
    expect(refused.status).toBe(403);
    expect((await t.db.query('SELECT password_hash FROM users WHERE id = $1', [ella.id])).rows[0].password_hash).toBeNull();
    // The owner, back in by a new link, may.
    const owner = await signIn('ella@example.test');
    const set = await owner.post('/settings/password', { _csrf: await owner.csrfOf('/settings'), password: 'ella password 1', repeat: 'ella password 1' });
    expect(set.location).toBe('/settings?done=password');
  });

  it('lets the owner, back in by a mailed link, remove a password somebody else set, which signs the other sessions out', async () => {
    await addUser(engine.db, 'finn@example.test');
    await setPassword(engine.db, 'finn@example.test', 'thief password 1');
    const thief = client(t.publicUrl);
    const byPassword = await thief.post('/signin/password', { _csrf: await thief.csrfOf('/signin'), address: 'finn@example.test', password: 'thief password 1' });
    expect(byPassword.status).toBe(303);
    // A session begun with the password cannot remove it without knowing it...
    expect((await thief.post('/settings/password/remove', { _csrf: await thief.csrfOf('/settings') })).status).toBe(403);
    // ...the owner, who reads the mailbox, can.
    const owner = await signIn('finn@example.test');
    const page = await owner.get('/settings');
    expect(page.text).toContain('Remove password');
    const removed = await owner.post('/settings/password/remove', { _csrf: WebClient.csrf(page.text) });
    expect(removed.location).toBe('/settings?done=password-removed');
    expect((await thief.get('/q')).status).toBe(303);
    const again = client(t.publicUrl);
    expect((await again.post('/signin/password', { _csrf: await again.csrfOf('/signin'), address: 'finn@example.test', password: 'thief password 1' })).status).toBe(401);
    expect((await owner.get('/q')).status).toBe(200);
  });

  it('tells browsers to keep to HTTPS when the trusted proxy says the page was served over HTTPS, and not over plain HTTP', async () => {
    const secure = await fetch(`${t.publicUrl}/signin`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(secure.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const plain = await fetch(`${t.publicUrl}/signin`);
    expect(plain.headers.get('strict-transport-security')).toBeNull();
  });

  it('ends the previous session of a browser that signs in again, so a copy of its old cookie stops working', async () => {
    const browser = await signIn('dina@example.test');
    const copy = client(t.publicUrl);
    for (const [name, value] of browser.cookies) copy.cookies.set(name, value);
    expect((await copy.get('/q')).status).toBe(200);
    // The link asked for from anywhere (the signed-in browser's /signin leads to its quarantine).
    const link = await mailedLink(client(t.publicUrl), 'dina@example.test');
    // The landing page's own form comes after the navigation's sign-out form: its token is the last.
    const landing = (await browser.get(link)).text;
    const linkFormToken = [...landing.matchAll(/name="_csrf" value="([^"]+)"/g)].at(-1)![1]!;
    expect((await browser.post(link, { _csrf: linkFormToken })).status).toBe(303);
    expect((await browser.get('/q')).status).toBe(200);
    expect((await copy.get('/q')).status).toBe(303);
  });

  it('limits sign-in attempts per client address', async () => {
    const c = client(t.publicUrl);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await askLink(c, `visitor${i}@example.test`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
    // Another client is not affected.
    expect((await askLink(client(t.publicUrl), 'visitor9@example.test')).status).toBe(200);
  });

  it('escapes what the sender wrote: subject, sender name and address', async () => {
    const id = await send('"<img src=x onerror=alert(1)>" <evil@remote.test>', 'anna@example.test', {
      subject: '<script>window.__pwned=1</script>',
      text: '</pre><script>window.__pwned=1</script>',
      html: '<script>window.__pwned=1</script><b>hi</b>',
    });
    for (const path of ['/q', `/q/${id}`]) {
      const page = await a.get(path);
      expect(page.status).toBe(200);
      expect(page.text, path).not.toContain('<script>window.__pwned');
      expect(page.text, path).not.toContain('<img src=x');
      expect(page.text, path).toContain('&lt;script&gt;window.__pwned&#x3D;1&lt;/script&gt;');
    }
    const frame = await a.get(`/q/${id}/html`);
    expect(frame.text).not.toContain('<script');
    expect(frame.text).toContain('<b>hi</b>');
  });

  it('keeps the confirmation pages of senders working without a session or token', async () => {
    const before = smtpSink.messages.length;
    await send('Una <una@remote.test>', 'carl@example.test', { subject: 'Hello Carl', text: 'x' });
    await waitFor(() => smtpSink.messages.slice(before).some((m) => /\/c\/[A-Za-z0-9_-]{43}/.test(m.raw.toString())), 'a challenge');
    const text = smtpSink.messages.slice(before).find((m) => /\/c\/[A-Za-z0-9_-]{43}/.test(m.raw.toString()))!.raw.toString();
    const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(text)![0];
    expect((await fetch(link, { method: 'POST' })).status).toBe(200);
  });
});
