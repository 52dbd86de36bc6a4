/**
 * Quotes, SQL fragments, LIKE wildcards, backslashes and unicode fed through every way a stranger or a
 * user can put a string into crgate — envelope addresses with quoted local parts over real LMTP,
 * subjects and display names, list entries through the site and the command line, the quarantine
 * search over real HTTP — are stored and shown as written, `%` and `_` search literally, and every
 * table is still there. CR/LF and encoded words in a subject or display name put no header into the
 * challenge or the digest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import { silentLogger } from '@crgate/core';
import { addUser, DIGEST_LAG_MS, resolveSecret } from '@crgate/store';
import { sendDigests } from '@crgate/worker';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { runCli } from './helpers/engine-process.js';
import { lmtpSend, rawLmtp } from './helpers/lmtp-client.js';
import { waitFor, type Sink } from './helpers/sinks.js';
import { signInLinkIn, WebClient } from './helpers/browser.js';

const SQL = `'; DROP TABLE messages; --`;
const OR = `" OR 1=1 --`;
const UNICODE = 'Zoë ünïcødé ✉ 日本語 😀';
/** Every subject the quarantine will hold for alice, each from its own sender. */
const SUBJECTS: Record<string, string> = {
  sql: `${SQL} (sql)`,
  or: `${OR} (or)`,
  backslash: 'back\\slash',
  percent: 'sale 100% off',
  underscore: 'snake_case here',
  unicode: UNICODE,
  plain: 'plain words 1000 off',
};

function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
}

/** The subject as the page renders it: handlebars escapes ' as &#x27; and = as &#x3D;. */
function shown(s: string): string {
  return html(s).replace(/=/g, '&#x3D;');
}

function mail(from: string, subject: string, id: string, extraHeaders = ''): string {
  return `From: ${from}\r\nTo: Alice <alice@example.test>\r\nSubject: ${subject}\r\n${extraHeaders}Message-ID: <${id}@remote.test>\r\nDate: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nbody\r\n`;
}

describe('hostile strings', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let alice: WebClient;
  let tables: string[];

  async function tableNames(): Promise<string[]> {
    const { rows } = await t.db.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
    return rows.map((r) => r.name);
  }

  /** The subjects on a quarantine page (search results), in any order. */
  async function search(q: string): Promise<string[]> {
    const page = await alice.get(`/q?q=${encodeURIComponent(q)}`);
    expect(page.status).toBe(200);
    return Object.keys(SUBJECTS).filter((k) => page.text.includes(shown(SUBJECTS[k]!)));
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      CRGATE_WEB_SIGNIN_PER_CLIENT: '1000',
    });
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    await addUser(engine.db, 'bert@example.test');
    tables = await tableNames();
    expect(tables).toEqual(expect.arrayContaining(['messages', 'message_recipients', 'list_entries', 'challenges']));

    for (const [key, subject] of Object.entries(SUBJECTS)) {
      const [reply] = await lmtpSend(t.lmtpPort, `${key}@remote.test`, ['alice@example.test'], mail(`${key} <${key}@remote.test>`, subject, key));
      expect(reply!.code, key).toBe(250);
    }
    const c = new WebClient(t.publicUrl);
    const before = lmtpSink.messages.length;
    expect((await c.post('/signin/link', { _csrf: await c.csrfOf('/signin'), address: 'alice@example.test' })).status).toBe(200);
    await waitFor(() => lmtpSink.messages.slice(before).some((m) => signInLinkIn(m)), 'the sign-in mail');
    const link = signInLinkIn(lmtpSink.messages.slice(before).find((m) => signInLinkIn(m))!)!;
    const landing = await c.get(link);
    expect((await c.post(link, { _csrf: WebClient.csrf(landing.text) })).status).toBe(303);
    alice = c;
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('stores subjects with quotes, SQL, backslashes and unicode as written and shows them escaped', async () => {
    const { rows } = await t.db.query<{ sender: string; subject: string }>(
      `SELECT r.sender, m.subject FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE r.rcpt_to = 'alice@example.test'`,
    );
    for (const [key, subject] of Object.entries(SUBJECTS)) expect(rows, key).toContainEqual({ sender: `${key}@remote.test`, subject });
    const page = await alice.get('/q');
    for (const [key, subject] of Object.entries(SUBJECTS)) expect(page.text, key).toContain(shown(subject));
    expect(page.text).not.toContain(SQL);
  });

  it('searches for %, _ and \\ literally, and for SQL fragments as plain text', async () => {
    expect(await search('%')).toEqual(['percent']);
    expect(await search('_')).toEqual(['underscore']);
    expect(await search('\\')).toEqual(['backslash']);
    expect(await search('100%')).toEqual(['percent']);
    expect(await search(SQL)).toEqual(['sql']);
    expect(await search(OR)).toEqual(['or']);
    expect(await search(`' OR '1'='1`)).toEqual([]);
    expect(await search('ünïcødé')).toEqual(['unicode']);
    expect(await tableNames()).toEqual(tables);
  });

  it('takes quoted local parts with SQL fragments in MAIL FROM and RCPT TO: stored as written, or refused cleanly', async () => {
    // smtp-server splits MAIL FROM at white space, so a quoted local part with a space gets 501 (see
    // docs/security.md); these carry the same quotes, semicolons, dashes and wildcards without one.
    const senders = [`"';DROP-TABLE-messages;--"@remote.test`, `"\\"OR\\"1=1--"@remote.test`, `"back\\\\slash%_"@remote.test`];
    for (const [i, sender] of senders.entries()) {
      const lmtp = await rawLmtp(t.lmtpPort);
      expect((await lmtp.command('LHLO mta.test'))[0]).toMatch(/^250/);
      expect(await lmtp.command(`MAIL FROM:<${sender}>`), sender).toEqual([expect.stringMatching(/^250 /)]);
      // A stranger's quoted address as recipient: not a user, refused with 550, the session goes on.
      expect((await lmtp.command(`RCPT TO:<"';DROP-TABLE-users;--"@example.test>`))[0]).toMatch(/^550 /);
      expect((await lmtp.command(`RCPT TO:<"'OR'1'='1"@example.test>`))[0]).toMatch(/^550 /);
      expect((await lmtp.command(`RCPT TO:<alice%_@example.test>`))[0]).toMatch(/^550 /);
      expect(await lmtp.command('RCPT TO:<bert@example.test>')).toEqual([expect.stringMatching(/^250 /)]);
      expect(await lmtp.command('DATA')).toEqual([expect.stringMatching(/^354 /)]);
      expect(await lmtp.data(mail(`${sender}`, `quoted ${i}`, `quoted-${i}`), 1)).toEqual([expect.stringMatching(/^250 /)]);
      lmtp.close();
    }
    const { rows } = await t.db.query<{ sender: string }>(`SELECT r.sender FROM message_recipients r WHERE r.rcpt_to = 'bert@example.test' ORDER BY r.id`);
    // Stored in crgate's normal form (lower case), otherwise as the MTA gave it.
    expect(rows.map((r) => r.sender)).toEqual([`"';drop-table-messages;--"@remote.test`, `"\\"or\\"1=1--"@remote.test`, `"back\\\\slash%_"@remote.test`]);
    expect(await tableNames()).toEqual(tables);
    expect((await t.db.query('SELECT count(*)::int AS n FROM messages')).rows[0].n).toBeGreaterThanOrEqual(Object.keys(SUBJECTS).length + 3);
  });

  it('keeps list entries with quotes, wildcards and unicode as written, through the site and the command line', async () => {
    const literal = [`o'brien%_x@remote.test`, `x'or'1'='1@remote.test`, 'zoë@remote.test'];
    for (const value of literal) {
      const csrf = await alice.csrfOf('/lists');
      const res = await alice.post('/lists/add', { _csrf: csrf, list: 'white', value });
      expect(res.status, value).toBe(303);
      expect(res.location, value).toBe('/lists?done=added');
    }
    // Not an address or a domain: a clear 400, nothing stored.
    for (const value of [SQL, OR, '\\', '%', '_']) {
      const res = await alice.post('/lists/add', { _csrf: await alice.csrfOf('/lists'), list: 'white', value });
      expect(res.status, value).toBe(400);
    }
    const page = await alice.get('/lists');
    for (const value of literal) expect(page.text).toContain(shown(value));

    const cli = await runCli(['lists', 'add', '--as', 'bert@example.test', 'black', `a'b%c_d@remote.test`, 'ünï@remote.test'], t.env);
    expect(cli.code, cli.stderr).toBe(0);
    const refused = await runCli(['lists', 'add', '--as', 'bert@example.test', 'black', SQL], t.env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('neither an address nor a domain');
    const shownByCli = await runCli(['lists', 'show', '--as', 'bert@example.test', '--json'], t.env);
    expect(shownByCli.stdout.trim().split('\n').map((l) => JSON.parse(l).value).sort()).toEqual([`a'b%c_d@remote.test`, 'ünï@remote.test']);

    const { rows } = await t.db.query<{ value: string }>(`SELECT value FROM list_entries ORDER BY value`);
    expect(rows.map((r) => r.value).sort()).toEqual([...literal, `a'b%c_d@remote.test`, 'ünï@remote.test'].sort());
    // A wildcard in an entry is no wildcard when mail is matched: o'brienAAx@ is not whitelisted.
    const [reply] = await lmtpSend(t.lmtpPort, `o'brienaax@remote.test`, ['alice@example.test'], mail(`o'brienaax@remote.test`, 'wildcard?', 'wild'));
    expect(reply!.code).toBe(250);
    const { rows: decided } = await t.db.query(`SELECT decision FROM message_recipients WHERE sender = $1`, [`o'brienaax@remote.test`]);
    expect(decided).not.toContainEqual({ decision: 'deliver' });
    expect(await tableNames()).toEqual(tables);
  });

  it('takes a message with NUL bytes in its subject, display name and body: decided and stored, the NULs dropped', async () => {
    const raw = mail('Nu\u0000l <nul@remo\u0000te.test>', 'nul\u0000in subject', 'nul-bytes').replace('body\r\n', 'bo\u0000dy\r\n');
    const [reply] = await lmtpSend(t.lmtpPort, 'nul@remote.test', ['alice@example.test'], raw);
    expect(reply!.code).toBe(250);
    const { rows } = await t.db.query<{ subject: string; from_header: string }>(
      `SELECT m.subject, m.from_header FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE r.sender = 'nul@remote.test'`,
    );
    expect(rows).toEqual([{ subject: 'nulin subject', from_header: expect.stringContaining('nul@remote.test') }]);
    expect((await alice.get(`/q?q=${encodeURIComponent('nulin')}`)).text).toContain('nulin subject');
  });

  it('decides mail with a NUL in a Message-ID line of its body, or in References, for a whitelisted sender too', async () => {
    const csrf = await alice.csrfOf('/lists');
    expect((await alice.post('/lists/add', { _csrf: csrf, list: 'white', value: 'friend-nul@remote.test' })).status).toBe(303);
    const inBody = mail('friend-nul@remote.test', 'returned mail', 'nul-body-id').replace('body\r\n', 'Message-ID: <a\u0000b@remote.test>\r\n');
    const inReferences = mail('friend-nul@remote.test', 'a reply', 'nul-refs', 'References: <c\u0000d@remote.test>\r\n');
    for (const raw of [inBody, inReferences]) {
      const [reply] = await lmtpSend(t.lmtpPort, 'friend-nul@remote.test', ['alice@example.test'], raw);
      expect(reply!.code).toBe(250);
    }
    const { rows } = await t.db.query(`SELECT decision FROM message_recipients WHERE sender = 'friend-nul@remote.test'`);
    expect(rows).toEqual([{ decision: 'deliver' }, { decision: 'deliver' }]);
  });

  it('stores the reason of an automatic reply whose subject has an emoji where the detail is cut', async () => {
    // "Automatic reply: " is 17 characters: the emoji's two halves fall on the 60th and 61st.
    const subject = `Automatic reply: ${'x'.repeat(42)}😀 back on Monday`;
    const [reply] = await lmtpSend(t.lmtpPort, 'away@remote.test', ['alice@example.test'], mail('away@remote.test', subject, 'emoji-cut'));
    expect(reply!.code).toBe(250);
    const { rows } = await t.db.query<{ reasons: Array<{ symbol: string; detail: string }> }>(`SELECT reasons FROM message_recipients WHERE sender = 'away@remote.test'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.reasons).toContainEqual(expect.objectContaining({ symbol: 'AUTO_REPLY', detail: `subject "Automatic reply: ${'x'.repeat(42)}" is an automatic reply` }));
  });

  it('refuses a NUL byte in MAIL FROM or RCPT TO as a syntax error, and the session goes on', async () => {
    const lmtp = await rawLmtp(t.lmtpPort);
    expect((await lmtp.command('LHLO mta.test'))[0]).toMatch(/^250/);
    expect((await lmtp.command('MAIL FROM:<n\u0000ul@remote.test>'))[0]).toMatch(/^501 /);
    expect(await lmtp.command('MAIL FROM:<nul2@remote.test>')).toEqual([expect.stringMatching(/^250 /)]);
    expect((await lmtp.command('RCPT TO:<ali\u0000ce@example.test>'))[0]).toMatch(/^501 /);
    expect(await lmtp.command('RCPT TO:<alice@example.test>')).toEqual([expect.stringMatching(/^250 /)]);
    lmtp.close();
  });

  it('answers NUL bytes typed into the site with a page, not a server error', async () => {
    const csrf = await alice.csrfOf('/lists');
    expect((await alice.post('/lists/add', { _csrf: csrf, list: 'white', value: 'a\u0000b@remote.test' })).status).toBe(400);
    expect((await alice.get('/q?q=%00')).status).toBe(200);
    const c = new WebClient(t.publicUrl);
    const signInCsrf = await c.csrfOf('/signin');
    expect((await c.post('/signin/link', { _csrf: signInCsrf, address: 'a\u0000b@example.test' })).status).toBeLessThan(500);
    expect((await c.post('/signin/password', { _csrf: signInCsrf, address: 'a\u0000b@example.test', password: 'x' })).status).toBeLessThan(500);
  });

  it('shows no flash message for an edited ?done= naming a property of every object, and no NaN count', async () => {
    for (const done of ['__defineGetter__', 'constructor', 'toString']) {
      const res = await alice.get(`/lists?done=${done}`);
      expect(res.status, done).toBe(200);
      expect(res.text, done).not.toMatch(/\[object |function |class="flash"/);
    }
    const nan = await alice.get('/lists?done=removed&n=abc');
    expect(nan.status).toBe(200);
    expect(nan.text).toContain('0 entries removed.');
    expect(nan.text).not.toContain('NaN');
  });

  it('answers an edited page cursor with an impossible date or score by going back to the first page', async () => {
    for (const after of ['2024-02-30T00:00:00.000000Z_1', '0000-01-01T00:00:00.000000Z_1']) {
      const res = await alice.get(`/q?after=${encodeURIComponent(after)}`);
      expect(res.status, after).toBe(303);
      expect(res.location, after).toBe('/q');
    }
    const score = await alice.get(`/q?sort=score&after=${encodeURIComponent('9e-999_1')}`);
    expect(score.status).toBe(200);
    expect((await alice.get(`/q?sort=score&after=${encodeURIComponent('2_1')}`)).status).toBe(303);
  });

  it('puts no header into the challenge through CR/LF or encoded words in the subject and display name', async () => {
    const before = smtpSink.messages.length;
    const subject = '=?utf-8?q?Hello=0D=0ABcc:_victim@evil.test=0D=0A=0D=0Abody?=';
    const from = '=?utf-8?q?Eve=0D=0ABcc:_victim2@evil.test?= <eve@remote.test>';
    const [reply] = await lmtpSend(t.lmtpPort, 'eve@remote.test', ['alice@example.test'], mail(from, subject, 'inject'));
    expect(reply!.code).toBe(250);
    await waitFor(() => smtpSink.messages.slice(before).some((m) => m.rcptTo.includes('eve@remote.test')), 'the challenge');
    const challenge = smtpSink.messages.slice(before).find((m) => m.rcptTo.includes('eve@remote.test'))!;
    expect(challenge.rcptTo).toEqual(['eve@remote.test']);
    const raw = challenge.raw.toString('utf8');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
    expect(head).not.toMatch(/^bcc:/im);
    expect(head).not.toMatch(/^body/im);
    // The subject stays one header, on one (possibly folded) line.
    expect(head.match(/^Subject:/gim)).toHaveLength(1);
    expect(head).toMatch(/^Subject: C\/R: please confirm your message: Hello Bcc: victim@evil\.test body$/m);
    const parsed = await simpleParser(challenge.raw);
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(parsed.to && 'text' in parsed.to ? parsed.to.text : '').toBe('eve@remote.test');
    expect(parsed.subject).not.toMatch(/[\r\n]/);
    expect(parsed.subject).toContain('Hello');
  });

  it('puts no CR/LF into the challenge subject the sender reads through a subject encoded twice', async () => {
    const before = smtpSink.messages.length;
    const inner = `=?utf-8?B?${Buffer.from('Hello\r\nBcc: victim@evil.test').toString('base64')}?=`;
    const subject = `=?utf-8?B?${Buffer.from(inner).toString('base64')}?=`;
    const [reply] = await lmtpSend(t.lmtpPort, 'eve2@remote.test', ['alice@example.test'], mail('eve2@remote.test', subject, 'inject-twice'));
    expect(reply!.code).toBe(250);
    await waitFor(() => smtpSink.messages.slice(before).some((m) => m.rcptTo.includes('eve2@remote.test')), 'the challenge');
    const challenge = smtpSink.messages.slice(before).find((m) => m.rcptTo.includes('eve2@remote.test'))!;
    const parsed = await simpleParser(challenge.raw);
    expect(parsed.subject).toMatch(/^C\/R: please confirm your message: /);
    expect(parsed.subject).not.toMatch(/[\r\n]/);
  });

  it('holds a message whose Date: is before 4713 BC (older than PostgreSQL can store) instead of answering 4xx on every retry', async () => {
    const raw = mail('bc@remote.test', 'very old', 'bc-date').replace(/^Date: .*\r\n/m, 'Date: -005000-01-01T00:00:00Z\r\n');
    expect(raw).toContain('Date: -005000');
    const [reply] = await lmtpSend(t.lmtpPort, 'bc@remote.test', ['alice@example.test'], raw);
    expect(reply!.code).toBe(250);
    const { rows } = await t.db.query(`SELECT m.date_header FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE r.sender = 'bc@remote.test'`);
    expect(rows).toEqual([{ date_header: null }]);
  });

  it('puts no header into the digest through CR/LF or encoded words in held subjects', async () => {
    const subject = '=?utf-8?q?Hi=0D=0ABcc:_victim@evil.test?=';
    const [reply] = await lmtpSend(t.lmtpPort, 'mallory@far.test', ['bert@example.test'], mail('=?utf-8?q?M=0D=0ATo:_x@evil.test?= <mallory@far.test>', subject, 'digest-inject'));
    expect(reply!.code).toBe(250);
    const before = lmtpSink.messages.length;
    const secret = await resolveSecret(engine.db, undefined, silentLogger);
    expect(await sendDigests(engine.config, engine.db, secret, new Date(Date.now() + DIGEST_LAG_MS), silentLogger)).toBeGreaterThanOrEqual(1);
    const digest = lmtpSink.messages.slice(before).find((m) => m.rcptTo.includes('bert@example.test'))!;
    expect(digest).toBeDefined();
    const raw = digest.raw.toString('utf8');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
    expect(head).not.toMatch(/^bcc:/im);
    expect(head).not.toContain('evil.test');
    const parsed = await simpleParser(digest.raw);
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(parsed.subject).toMatch(/^Held mail: \d+ new message\(s\)$/);
    // The subject is in the body, on one line.
    expect(parsed.text).toMatch(/^Subject: Hi Bcc: victim@evil\.test$/m);
  });
});
