/**
 * The recipient's site over HTTP, against a real engine and PostgreSQL: signing in with a mailed link
 * (caught by the LMTP sink, since sign-in mail goes straight to the mailbox) or a password, the
 * quarantine list (reasons in words, search, filters, sort, keyset pages), the message view with its
 * sanitised HTML frame, every action, the lists and the settings.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, findUserByAddress, likePattern, listQuarantine, setPassword } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { composeToAlice, lmtpSend, type TestMail } from './helpers/lmtp-client.js';
import { waitFor, type Sink } from './helpers/sinks.js';
import { signInLinkIn, WebClient } from './helpers/browser.js';

describe('recipient site', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let alice: WebClient;
  let aliceId: number;

  /** Sends a message to alice (or `to`) over LMTP; returns the decision and the copy's id. */
  async function send(from: string, mail: TestMail, to = 'alice@example.test'): Promise<{ decision: string; id: number }> {
    const raw = await composeToAlice({ from, to, ...mail });
    const [reply] = await lmtpSend(t.lmtpPort, from.replace(/^.*<|>$/g, ''), [to], raw);
    expect(reply!.code).toBe(250);
    const { rows } = await t.db.query('SELECT id, decision FROM message_recipients ORDER BY id DESC LIMIT 1');
    return { decision: rows[0].decision, id: rows[0].id };
  }

  async function status(id: number): Promise<string> {
    const { rows } = await t.db.query('SELECT status FROM message_recipients WHERE id = $1', [id]);
    return rows[0].status;
  }

  async function signIn(address: string): Promise<WebClient> {
    const c = new WebClient(t.publicUrl);
    const csrf = await c.csrfOf('/signin');
    const before = lmtpSink.messages.length;
    expect((await c.post('/signin/link', { _csrf: csrf, address })).status).toBe(200);
    await waitFor(() => lmtpSink.messages.slice(before).some((m) => signInLinkIn(m)), 'a sign-in mail');
    const link = signInLinkIn(lmtpSink.messages.slice(before).find((m) => signInLinkIn(m))!)!;
    const landing = await c.get(link);
    const done = await c.post(link, { _csrf: WebClient.csrf(landing.text) });
    expect(done.status).toBe(303);
    return c;
  }

  async function act(c: WebClient, action: string, ids: number[]) {
    const csrf = await c.csrfOf('/q');
    return c.post('/q/actions', { _csrf: csrf, action, ids: ids.map(String), back: '' });
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      // Every request of this file comes from 127.0.0.1; the limits have their own tests.
      CRGATE_WEB_SIGNIN_PER_CLIENT: '1000',
      CRGATE_WEB_SIGNIN_PER_ADDRESS: '1000',
    });
    ({ lmtpSink, smtpSink } = t);
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    await addUser(engine.db, 'pat@example.test');
    await addUser(engine.db, 'sol@example.test');
    await addUser(engine.db, 'paul@example.test');
    aliceId = (await findUserByAddress(engine.db, 'alice@example.test'))!.id;
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('mails a single-use sign-in link to the mailbox; GET shows a button, POST signs in', async () => {
    const c = new WebClient(t.publicUrl);
    const form = await c.get('/signin');
    expect(form.status).toBe(200);
    expect(form.text).toContain('<label for="address">');
    const before = lmtpSink.messages.length;
    const asked = await c.post('/signin/link', { _csrf: WebClient.csrf(form.text), address: 'Alice+tag@Example.test' });
    expect(asked.status).toBe(200);
    expect(asked.text).toContain('Check your mail');
    await waitFor(() => lmtpSink.messages.length > before, 'the sign-in mail');
    const mail = lmtpSink.messages.at(-1)!;
    expect(mail.mailFrom).toBe('');
    expect(mail.rcptTo).toEqual(['alice@example.test']);
    const raw = mail.raw.toString('utf8');
    expect(raw).toMatch(/^Auto-Submitted: auto-generated/m);
    expect(raw).toMatch(/^From: crgate@localhost/m);
    const link = signInLinkIn(mail)!;
    expect(link.startsWith(`${t.publicUrl}/signin/`)).toBe(true);

    // The token is stored only as its SHA-256.
    const token = link.split('/').at(-1)!;
    const { rows } = await t.db.query('SELECT token_hash FROM sign_in_links');
    expect(rows.map((r) => r.token_hash).join(' ')).not.toContain(token);

    const landing = await c.get(link);
    expect(landing.status).toBe(200);
    expect(landing.text).toContain(`action="/signin/${token}"`);
    expect(c.cookies.has('crgate_session')).toBe(false);

    const signed = await c.post(link, { _csrf: WebClient.csrf(landing.text) });
    expect(signed.status).toBe(303);
    expect(signed.location).toBe('/q');
    const cookie = signed.headers.getSetCookie().find((l) => l.startsWith('crgate_session='))!;
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('Secure');
    const home = await c.get('/q');
    expect(home.status).toBe(200);
    expect(home.text).toContain('alice@example.test');
    alice = c;
  });

  it('lists held mail newest first, with the decision and its reasons in words', async () => {
    const before = smtpSink.messages.length;
    const { id } = await send('Carol <carol@remote.test>', { subject: 'Project plan', text: 'Here is the plan.' });
    await waitFor(() => smtpSink.messages.length > before, 'the challenge');
    await waitFor(async () => (await t.db.query(`SELECT 1 FROM challenges WHERE sender = 'carol@remote.test' AND status = 'sent'`)).rowCount === 1, 'challenge sent');
    const page = await alice.get('/q');
    const rowHtml = page.text.slice(page.text.indexOf(`value="${id}"`));
    expect(rowHtml).toContain('Carol &lt;carol@remote.test&gt;');
    expect(rowHtml).toContain(`href="/q/${id}"`);
    expect(rowHtml).toContain('Project plan');
    expect(rowHtml).toContain('Asked to confirm');
    expect(rowHtml).toContain('challenge sent today');
    expect(rowHtml).toContain('sender unknown');
    expect(rowHtml).not.toContain('UNKNOWN_SENDER');

    const later = await send('Dora <dora@remote.test>', { subject: 'Newer one', text: 'x' });
    const again = await alice.get('/q');
    expect(again.text.indexOf(`value="${later.id}"`)).toBeLessThan(again.text.indexOf(`value="${id}"`));
  });

  it('searches sender and subject with % and _ taken literally', async () => {
    await send('Frank <frank@remote.test>', { subject: 'Offer: 100% sure', text: 'x' });
    await send('Gina <gina@remote.test>', { subject: 'Offer: 1000 sure', text: 'x' });
    const pct = await alice.get(`/q?q=${encodeURIComponent('100%')}`);
    expect(pct.text).toContain('Offer: 100% sure');
    expect(pct.text).not.toContain('Offer: 1000 sure');
    const underscore = await alice.get(`/q?q=${encodeURIComponent('100_')}`);
    expect(underscore.text).not.toContain('Offer: 1000 sure');
    const bySender = await alice.get('/q?q=GINA@remote');
    expect(bySender.text).toContain('Offer: 1000 sure');
    expect(bySender.text).not.toContain('Offer: 100% sure');
    expect(likePattern('a%b_c\\')).toBe('%a\\%b\\_c\\\\%');
  });

  it('filters by decision and by reason', async () => {
    const raw = await composeToAlice({ from: 'MAILER-DAEMON@remote.test', subject: 'Undelivered Mail Returned to Sender', text: 'bounce' });
    expect((await lmtpSend(t.lmtpPort, '', ['alice@example.test'], raw))[0]!.code).toBe(250);
    const held = await alice.get('/q?decision=quarantine');
    expect(held.text).toContain('Undelivered Mail Returned to Sender');
    expect(held.text).toContain('no return address (a bounce or notice)');
    expect(held.text).not.toContain('Project plan');
    const challenged = await alice.get('/q?decision=challenge');
    expect(challenged.text).toContain('Project plan');
    expect(challenged.text).not.toContain('Undelivered Mail');
    const byReason = await alice.get('/q?reason=NULL_SENDER');
    expect(byReason.text).toContain('Undelivered Mail Returned to Sender');
    expect(byReason.text).not.toContain('Project plan');
    // A made-up filter value is ignored, not passed to SQL.
    expect((await alice.get(`/q?reason=${encodeURIComponent("X' OR 1=1")}&decision=deliver`)).status).toBe(200);
  });

  it('pages by keyset without losing or repeating a copy, also when times are equal, and sorts by score', async () => {
    const pat = (await findUserByAddress(engine.db, 'pat@example.test'))!.id;
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) ids.push((await send(`s${i}@remote.test`, { subject: `Pat ${i}`, text: 'x', to: 'pat@example.test' }, 'pat@example.test')).id);
    // Three copies share one instant: the id breaks the tie.
    await t.db.query(`UPDATE message_recipients SET created_at = '2026-01-01T00:00:00.123456Z' WHERE id = ANY($1)`, [ids.slice(2, 5)]);
    const seen: number[] = [];
    let after: string | undefined;
    do {
      const page = await listQuarantine(engine.db, { userId: pat, limit: 2, after });
      seen.push(...page.items.map((i) => i.id));
      after = page.next;
    } while (after);
    const { rows } = await t.db.query(
      `SELECT id FROM message_recipients WHERE user_id = $1 AND status IN ('held', 'discarded') ORDER BY created_at DESC, id DESC`,
      [pat],
    );
    expect(seen).toEqual(rows.map((r) => r.id));

    // The content score comes from the CONTENT_* reason; copies without one sort last.
    const scores = [0.42, 0.97, 0.05];
    for (const [i, s] of scores.entries()) {
      await t.db.query(`UPDATE message_recipients SET reasons = reasons || $2::jsonb WHERE id = $1`, [
        ids[i],
        JSON.stringify([{ symbol: 'CONTENT_UNSURE', weight: 0, detail: `content score ${s.toFixed(3)}; spam clues: x 0.9` }]),
      ]);
    }
    const byScore: number[] = [];
    after = undefined;
    do {
      const page = await listQuarantine(engine.db, { userId: pat, limit: 3, sort: 'score', after });
      byScore.push(...page.items.map((i) => i.id));
      after = page.next;
    } while (after);
    expect(byScore.slice(0, 3)).toEqual([ids[1], ids[0], ids[2]]);
    expect(new Set(byScore)).toEqual(new Set(ids));
    expect(byScore).toHaveLength(ids.length);
  });

  it('an older page left empty by an action says there is nothing more there and links to the newest page', async () => {
    const paul = await signIn('paul@example.test');
    for (let i = 0; i < 51; i++) await send(`p${i}@remote.test`, { subject: `Page ${i}`, text: 'x', to: 'paul@example.test' }, 'paul@example.test');
    const first = await paul.get('/q');
    const next = /href="([^"]+)" rel="next"/.exec(first.text)![1]!.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
    const last = await paul.get(next);
    const ids = [...last.text.matchAll(/name="ids" value="(\d+)"/g)].map((m) => m[1]!);
    expect(ids).toHaveLength(1);
    const back = /name="back" value="([^"]*)"/.exec(last.text)![1]!.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
    const done = await paul.post('/q/actions', { _csrf: WebClient.csrf(last.text), action: 'delete', ids, back });
    const after = await paul.get(done.location!);
    expect(after.text).toContain('50 held');
    expect(after.text).toContain('No more messages here.');
    expect(after.text).not.toContain('No held mail');
    expect(after.text).toMatch(/<a href="\/q">Newest<\/a>/);
  });

  it('shows a message: headers, text, attachments listed, HTML only sanitised in a sandboxed frame', async () => {
    const { id } = await send('Hank <hank@remote.test>', {
      subject: 'Invoice <b>bold</b>',
      text: 'Please find the invoice attached.\nhttps://example.net/pay',
      html:
        '<p onclick="window.__pwned=1">Pay <a href="https://example.net/pay?x=1&y=2">here</a> or <a href="javascript:alert(1)">there</a></p>' +
        '<script>window.__pwned=1</script><img src="https://tracker.example/pixel.png" alt="logo">' +
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline"><iframe src="https://evil.example/"></iframe>' +
        '<form action="https://evil.example/"><input name="pw"></form><style>body{background:url(https://tracker.example/bg)}</style>',
      attachments: [{ filename: 'invoice.pdf', content: Buffer.from('%PDF-1.4 fake'), contentType: 'application/pdf' }],
    });
    const view = await alice.get(`/q/${id}`);
    expect(view.status).toBe(200);
    expect(view.headers.get('content-security-policy')).toContain("frame-src 'self'");
    expect(view.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(view.text).toContain('Invoice &lt;b&gt;bold&lt;/b&gt;');
    expect(view.text).toContain('Please find the invoice attached.');
    expect(view.text).not.toContain('<a href="https://example.net/pay');
    expect(view.text).toContain('invoice.pdf');
    expect(view.text).toContain('application/pdf');
    expect(view.text).toContain(`<iframe class="html" src="/q/${id}/html" sandbox="allow-top-navigation-by-user-activation"`);
    expect(view.text).toContain('sender unknown');

    const frame = await alice.get(`/q/${id}/html`);
    expect(frame.status).toBe(200);
    const csp = frame.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain('img-src data:');
    expect(csp).toContain('sandbox allow-top-navigation-by-user-activation');
    expect(csp).not.toContain('allow-scripts');
    const html = frame.text;
    expect(html).not.toMatch(/<script|onclick|<iframe|<form|<input|tracker\.example|evil\.example|javascript:/i);
    expect(html).toContain(`href="/q/link?u=${encodeURIComponent('https://example.net/pay?x=1&y=2')}"`);
    expect(html).toContain('target="_top"');
    expect(html).toContain('src="data:image/png;base64,iVBORw0KGgo="');
    expect(html).toContain('[image: logo]');
    // Attachments are listed, never served.
    expect((await alice.get(`/q/${id}/attachments/0`)).status).toBe(404);

    const leave = await alice.get(`/q/link?u=${encodeURIComponent('https://example.net/pay?x=1&y=2')}`);
    expect(leave.status).toBe(200);
    expect(leave.text).toContain('<strong>example.net</strong>');
    expect(leave.text).toContain('href="https://example.net/pay?x&#x3D;1&amp;y&#x3D;2"');
    expect((await alice.get(`/q/link?u=${encodeURIComponent('javascript:alert(1)')}`)).status).toBe(400);
  });

  it('opens a mailto: link only when it names addresses, and shows them, never other text as the address', async () => {
    const spoof = 'mailto:Your mailbox is full. Call +1 800 555 0100 to keep it';
    const refused = await alice.get(`/q/link?u=${encodeURIComponent(spoof)}`);
    expect(refused.status).toBe(400);
    expect(refused.text).not.toContain('Your mailbox is full');
    const { id } = await send('Pia <pia@remote.test>', { subject: 'Mailto', text: 'x', html: `<a href="${spoof}">support</a> <a href="mailto:help@example.net">help</a>` });
    const frame = await alice.get(`/q/${id}/html`);
    expect(frame.text).not.toContain('Your mailbox is full');
    expect(frame.text).toContain(`href="/q/link?u=${encodeURIComponent('mailto:help@example.net')}"`);
    const leave = await alice.get(`/q/link?u=${encodeURIComponent('mailto:m%C3%BCller@example.net,help@example.net?subject=Hi')}`);
    expect(leave.status).toBe(200);
    expect(leave.text).toContain('<strong>müller@example.net, help@example.net</strong>');
  });

  it('answers the HTML frame of a message of 200,000 nested tags at once, saying it is not shown, and keeps serving meanwhile', async () => {
    // Unclosed nested tags cost the HTML parser time in n² (1 MB of them: ~9 s, the whole process stalled).
    const { id } = await send('Mallory <mallory@remote.test>', { subject: 'Deep', html: '<div>'.repeat(200_000) });
    const started = Date.now();
    const [frame, health] = await Promise.all([
      alice.get(`/q/${id}/html`),
      new Promise((r) => setTimeout(r, 50)).then(async () => {
        const at = Date.now();
        await fetch(`${t.publicUrl}/healthz`);
        return Date.now() - at;
      }),
    ]);
    expect(frame.status).toBe(200);
    expect(frame.text).toContain('has more than 20,000 tags: too many to show here');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(health).toBeLessThan(2_000);
    // A message at the limit is still shown.
    const { id: fine } = await send('Mallory <mallory@remote.test>', { subject: 'Deep but fine', html: `${'<b>'.repeat(19_990)}visible` });
    expect((await alice.get(`/q/${fine}/html`)).text).toContain('visible');
  });

  it('shows bidi control characters in an attachment name as visible markers, and isolates it', async () => {
    const { id } = await send('Hugo <hugo@remote.test>', {
      subject: 'Invoice',
      text: 'x',
      attachments: [{ filename: 'invoice\u202Efdp.exe', content: Buffer.from('MZ'), contentType: 'application/octet-stream' }],
    });
    const view = await alice.get(`/q/${id}`);
    expect(view.text).toContain('<li><bdi>invoice⟨U+202E⟩fdp.exe</bdi> <span class="muted">(application/octet-stream');
    expect(view.text).not.toContain('\u202E');
  });

  it('isolates the subject and sender of a message in <bdi> on the list and the message page', async () => {
    const { id } = await send('Ivo \u202Eevil <ivo@remote.test>', { subject: 'Bill \u202Etxt.exe', text: 'x' });
    const view = await alice.get(`/q/${id}`);
    expect(view.text).toContain('<h1><bdi>Bill \u202Etxt.exe</bdi></h1>');
    expect(view.text).toMatch(/<dt>From<\/dt><dd><bdi>[^<]*ivo@remote\.test[^<]*<\/bdi><\/dd>/);
    const list = await alice.get('/q?q=ivo');
    expect(list.text).toMatch(new RegExp(`<a href="/q/${id}[^"]*"><bdi>Bill \u202Etxt\\.exe</bdi></a>`));
    expect(list.text).toMatch(/<td class="from"><bdi>[^<]*ivo@remote\.test[^<]*<\/bdi><\/td>/);
  });

  it('shows only the first 8 MB of a larger message, and says so', async () => {
    const { id } = await send('Lena <lena@remote.test>', {
      subject: 'Scans',
      text: 'Opening words of a large message.',
      attachments: [
        { filename: 'scan.bin', content: randomBytes(7 * 1024 * 1024), contentType: 'application/octet-stream' },
        { filename: 'after-the-cut.pdf', content: Buffer.from('%PDF-1.4 fake'), contentType: 'application/pdf' },
      ],
    });
    const view = await alice.get(`/q/${id}`);
    expect(view.status).toBe(200);
    expect(view.text).toContain('Opening words of a large message.');
    expect(view.text).toMatch(/This message is 9\.\d MB: only its first 8\.0 MB are shown here/);
    expect(view.text).not.toContain('after-the-cut.pdf');
    // A message under the limit is shown whole, without the notice.
    expect((await alice.get(`/q/${(await send('Lena <lena@remote.test>', { subject: 'Small', text: 'x' })).id}`)).text).not.toContain('are shown here');
  });

  it('releases: the copy goes to the outbox and arrives downstream, marked released', async () => {
    const { id } = await send('Ivan <ivan@remote.test>', { subject: 'Release me', text: 'x' });
    const before = lmtpSink.messages.length;
    const res = await act(alice, 'release', [id]);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/q?done=release&n=1');
    expect((await alice.get(res.location!)).text).toContain('1 message(s) released.');
    await waitFor(() => lmtpSink.messages.slice(before).some((m) => m.raw.includes('Subject: Release me')), 'the released copy');
    const raw = lmtpSink.messages.slice(before).find((m) => m.raw.includes('Subject: Release me'))!;
    expect(raw.raw.toString('utf8')).toMatch(/^X-Crgate-Decision: released; reasons=UNKNOWN_SENDER/);
    expect(raw.mailFrom).toBe('ivan@remote.test');
    await waitFor(async () => (await status(id)) === 'released', 'released status');
    // Released again: nothing happens.
    const twice = await act(alice, 'release', [id]);
    expect(twice.location).toBe('/q?done=release&n=0');
  });

  it('releases and whitelists: the sender is on the whitelist and their next message is delivered', async () => {
    const { id } = await send('Judy <judy@remote.test>', { subject: 'Whitelist me', text: 'x' });
    await act(alice, 'release-whitelist', [id]);
    const { rows } = await t.db.query(`SELECT list, kind, source FROM list_entries WHERE user_id = $1 AND value = 'judy@remote.test'`, [aliceId]);
    expect(rows).toEqual([{ list: 'white', kind: 'address', source: 'manual' }]);
    const next = await send('Judy <judy@remote.test>', { subject: 'Second', text: 'x' });
    expect(next.decision).toBe('deliver');
  });

  it('deletes: the copy is gone from the list and its body from the database', async () => {
    const { id } = await send('Ken <ken@remote.test>', { subject: 'Delete me', text: 'secret body' });
    await act(alice, 'delete', [id]);
    const { rows } = await t.db.query(
      'SELECT r.status, r.status_detail, m.raw IS NULL AS gone FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE r.id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ status: 'expired', status_detail: 'deleted by the recipient', gone: true });
    expect((await alice.get('/q')).text).not.toContain('Delete me');
    const view = await alice.get(`/q/${id}`);
    expect(view.text).toContain('no longer stored');
    expect(view.text).not.toContain('secret body');
  });

  it('marks as spam: trains the classifier, keeps the copy as discarded; with blacklist, the next one is discarded', async () => {
    // Another user: once a user's model has seen both ham and spam it starts to decide, which would
    // make the decisions the other tests expect for alice depend on timing.
    const sol = await signIn('sol@example.test');
    const solId = (await findUserByAddress(engine.db, 'sol@example.test'))!.id;
    const { id } = await send('Leo <leo@remote.test>', { subject: 'Cheap pills', text: 'buy now' }, 'sol@example.test');
    await act(sol, 'spam', [id]);
    expect(await status(id)).toBe('discarded');
    await waitFor(
      async () => (await t.db.query(`SELECT 1 FROM classifier_trained WHERE scope = $1 AND label = 'spam'`, [solId])).rowCount! > 0,
      'spam training',
    );
    const listed = await sol.get('/q?decision=challenge');
    expect(listed.text).toContain('Cheap pills');

    const mia = await send('Mia <mia@remote.test>', { subject: 'More pills', text: 'buy now' }, 'sol@example.test');
    await act(sol, 'spam-blacklist', [mia.id]);
    const { rows } = await t.db.query(`SELECT list, source FROM list_entries WHERE user_id = $1 AND value = 'mia@remote.test'`, [solId]);
    expect(rows).toEqual([{ list: 'black', source: 'manual' }]);
    expect((await send('Mia <mia@remote.test>', { subject: 'Again', text: 'x' }, 'sol@example.test')).decision).toBe('discard');
  });

  it('returns to the search after an action, also when the search has a * in it', async () => {
    const { id } = await send('Star <star@remote.test>', { subject: 'a*b offer', text: 'x' });
    const list = await alice.get('/q?q=a*b');
    const back = /name="back" value="([^"]*)"/.exec(list.text)![1]!.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
    const done = await alice.post('/q/actions', { _csrf: WebClient.csrf(list.text), action: 'delete', ids: String(id), back });
    expect(new URL(done.location!, t.publicUrl).searchParams.get('q')).toBe('a*b');
  });

  it('returns to a search of 200 non-Latin characters after an action', async () => {
    const search = 'ж'.repeat(200);
    const back = `?${new URLSearchParams({ q: search })}`;
    expect(back.length).toBeGreaterThan(1000);
    const done = await alice.post('/q/actions', { _csrf: await alice.csrfOf('/q'), action: 'delete', ids: '999999999', back });
    expect(new URL(done.location!, t.publicUrl).searchParams.get('q')).toBe(search);
  });

  it('keeps only the list\'s own parameters of back, each cut to its length', async () => {
    const back = `?q=${'x'.repeat(300)}&sort=score&after=0.5_12&next=https://evil.example/&done=release&n=99`;
    const done = await alice.post('/q/actions', { _csrf: await alice.csrfOf('/q'), action: 'delete', ids: '999999999', back });
    const url = new URL(done.location!, t.publicUrl);
    expect(url.pathname).toBe('/q');
    expect([...url.searchParams.keys()]).toEqual(['q', 'sort', 'after', 'done', 'n']);
    expect(url.searchParams.get('q')).toBe('x'.repeat(200));
    expect(url.searchParams.get('n')).toBe('0');
  });

  it('an action on a message opened from a search returns to that search', async () => {
    const { id } = await send('Vera <vera@remote.test>', { subject: 'c*d report', text: 'x' });
    const list = await alice.get('/q?q=c*d&sort=score');
    const href = new RegExp(`href="(/q/${id}[^"]*)"`).exec(list.text)![1]!.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
    const view = await alice.get(href);
    const back = /name="back" value="([^"]*)"/.exec(view.text)![1]!.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
    const done = await alice.post('/q/actions', { _csrf: WebClient.csrf(view.text), action: 'delete', ids: String(id), back });
    const url = new URL(done.location!, t.publicUrl);
    expect(url.searchParams.get('q')).toBe('c*d');
    expect(url.searchParams.get('sort')).toBe('score');
  });

  it('asks to select a message when an action is pressed with none selected', async () => {
    const res = await alice.post('/q/actions', { _csrf: await alice.csrfOf('/q'), action: 'release', back: '?q=nobody' });
    expect(res.location).toBe('/q?q=nobody&done=none');
    const page = await alice.get(res.location!);
    expect(page.text).toContain('Select at least one message.');
    expect(page.text).not.toContain('message(s)');
  });

  it('acts on many messages at once', async () => {
    const a = await send('Nina <nina@remote.test>', { subject: 'Bulk 1', text: 'x' });
    const b = await send('Otto <otto@remote.test>', { subject: 'Bulk 2', text: 'x' });
    const res = await act(alice, 'delete', [a.id, b.id]);
    expect(res.location).toBe('/q?done=delete&n=2');
    expect([await status(a.id), await status(b.id)]).toEqual(['expired', 'expired']);
  });

  it('edits the lists: add, remove, import and export CSV', async () => {
    const csrf = await alice.csrfOf('/lists');
    expect((await alice.post('/lists/add', { _csrf: csrf, list: 'white', value: '@Friends.Example' })).location).toBe('/lists?done=added');
    expect((await alice.post('/lists/add', { _csrf: csrf, list: 'white', value: 'friends.example' })).location).toBe('/lists?done=present');
    const bad = await alice.post('/lists/add', { _csrf: csrf, list: 'white', value: 'not an address' });
    expect(bad.status).toBe(400);
    const page = await alice.get('/lists');
    expect(page.text).toContain('friends.example');
    expect(page.text).toContain('added by you');
    expect(page.text).toContain('judy@remote.test');

    const form = new FormData();
    form.append('_csrf', csrf);
    form.append('list', 'black');
    form.append('file', new Blob(['list,value\r\nwhite,pal@remote.test\r\n,spam.example\r\nblack,"\'=bad@remote.test"\r\n'], { type: 'text/csv' }), 'lists.csv');
    const imported = await alice.request('POST', '/lists/import', form);
    expect(imported.location).toBe('/lists?done=imported&n=3&moved=0');
    const { rows } = await t.db.query(`SELECT list, value, source FROM list_entries WHERE user_id = $1 AND source = 'import' ORDER BY value`, [aliceId]);
    expect(rows).toEqual([
      { list: 'black', value: '=bad@remote.test', source: 'import' },
      { list: 'white', value: 'pal@remote.test', source: 'import' },
      { list: 'black', value: 'spam.example', source: 'import' },
    ]);
    const broken = new FormData();
    broken.append('_csrf', csrf);
    broken.append('file', new Blob(['white,pal2@remote.test\nwhite,nonsense value\n']), 'x.csv');
    const refused = await alice.request('POST', '/lists/import', broken);
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('line(s) 2');

    const csv = await alice.get('/lists/export.csv');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('content-disposition')).toContain('attachment');
    expect(csv.text.split('\r\n')[0]).toBe('list,kind,value,source,created_at');
    expect(csv.text).toContain('white,domain,friends.example,manual,');
    // A cell a spreadsheet would run as a formula is defused.
    expect(csv.text).toContain("black,address,'=bad@remote.test,import,");

    const entry = await t.db.query(`SELECT id FROM list_entries WHERE user_id = $1 AND value = 'friends.example'`, [aliceId]);
    const removed = await alice.post('/lists/remove', { _csrf: csrf, ids: [String(entry.rows[0].id)] });
    expect(removed.location).toBe('/lists?done=removed&n=1');
    expect((await alice.get('/lists')).text).not.toContain('friends.example');
  });

  it('adding a blacklisted sender to the whitelist takes them off the blacklist, says so, and delivers their next mail', async () => {
    const csrf = await alice.csrfOf('/lists');
    await alice.post('/lists/add', { _csrf: csrf, list: 'black', value: 'rita@remote.test' });
    const added = await alice.post('/lists/add', { _csrf: csrf, list: 'white', value: 'Rita@Remote.test' });
    expect(added.location).toBe('/lists?done=moved-white');
    expect((await alice.get(added.location!)).text).toContain('Entry added to your whitelist, and moved from your blacklist.');
    const { rows } = await t.db.query(`SELECT list FROM list_entries WHERE user_id = $1 AND value = 'rita@remote.test'`, [aliceId]);
    expect(rows).toEqual([{ list: 'white' }]);
    expect((await send('Rita <rita@remote.test>', { subject: 'Friends again', text: 'x' })).decision).toBe('deliver');
  });

  it('adding a whitelisted domain to the blacklist takes it off the whitelist, and discards its next mail', async () => {
    const csrf = await alice.csrfOf('/lists');
    await alice.post('/lists/add', { _csrf: csrf, list: 'white', value: 'turned.example' });
    const added = await alice.post('/lists/add', { _csrf: csrf, list: 'black', value: '@turned.example' });
    expect(added.location).toBe('/lists?done=moved-black');
    expect((await alice.get(added.location!)).text).toContain('Entry added to your blacklist, and moved from your whitelist.');
    const { rows } = await t.db.query(`SELECT list, kind FROM list_entries WHERE user_id = $1 AND value = 'turned.example'`, [aliceId]);
    expect(rows).toEqual([{ list: 'black', kind: 'domain' }]);
    expect((await send('Sam <sam@turned.example>', { subject: 'Not any more', text: 'x' })).decision).toBe('discard');
  });

  it('signs in with a password; a wrong password reads like an unknown address', async () => {
    await setPassword(engine.db, 'alice@example.test', 'correct horse battery');
    const c = new WebClient(t.publicUrl);
    const csrf = await c.csrfOf('/signin');
    const wrong = await c.post('/signin/password', { _csrf: csrf, address: 'alice@example.test', password: 'wrong password' });
    const unknown = await c.post('/signin/password', { _csrf: csrf, address: 'nobody@example.test', password: 'wrong password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.text.replaceAll('alice@example.test', 'X')).toBe(unknown.text.replaceAll('nobody@example.test', 'X'));
    const ok = await c.post('/signin/password', { _csrf: csrf, address: 'Alice@example.test', password: 'correct horse battery' });
    expect(ok.status).toBe(303);
    expect((await c.get('/q')).status).toBe(200);
  });

  it('changes the password in the settings and signs the other sessions out', async () => {
    const other = await signIn('alice@example.test');
    const csrf = await alice.csrfOf('/settings');
    const wrongCurrent = await alice.post('/settings/password', { _csrf: csrf, current: 'nope', password: 'new password 1', repeat: 'new password 1' });
    expect(wrongCurrent.status).toBe(400);
    const ok = await alice.post('/settings/password', { _csrf: csrf, current: 'correct horse battery', password: 'new password 1', repeat: 'new password 1' });
    expect(ok.location).toBe('/settings?done=password');
    expect((await alice.get('/q')).status).toBe(200);
    expect((await other.get('/q')).status).toBe(303);
  });

  it('saves the settings: challenges off holds unknown senders quietly; digest and language', async () => {
    const csrf = await alice.csrfOf('/settings');
    const saved = await alice.post('/settings', { _csrf: csrf, digest: 'weekly', language: 'de' });
    expect(saved.location).toBe('/settings?done=saved');
    const { rows } = await t.db.query('SELECT challenges_enabled, digest_frequency, language FROM users WHERE id = $1', [aliceId]);
    expect(rows[0]).toEqual({ challenges_enabled: false, digest_frequency: 'weekly', language: 'de' });
    const page = await alice.get('/settings');
    expect(page.text).toContain('id="digest-weekly" name="digest" value="weekly" checked');
    expect(page.text).toContain('<option value="de" lang="de" selected>');
    expect(page.text).not.toContain('name="challenges" value="on" checked');

    const before = smtpSink.messages.length;
    const quiet = await send('Quinn <quinn@remote.test>', { subject: 'No challenge please', text: 'x' });
    expect(quiet.decision).toBe('quarantine');
    const { rows: r } = await t.db.query('SELECT reasons FROM message_recipients WHERE id = $1', [quiet.id]);
    expect(r[0].reasons.map((x: { symbol: string }) => x.symbol)).toContain('CHALLENGES_DISABLED');
    expect(smtpSink.messages.length).toBe(before);

    expect((await alice.post('/settings', { _csrf: csrf, digest: 'monthly', language: 'de' })).status).toBe(400);
    expect((await alice.post('/settings', { _csrf: csrf, digest: 'daily', language: 'xx' })).status).toBe(400);
    await alice.post('/settings', { _csrf: csrf, challenges: 'on', digest: 'daily', language: 'en' });
    const back = await t.db.query('SELECT challenges_enabled, digest_frequency, language FROM users WHERE id = $1', [aliceId]);
    expect(back.rows[0]).toEqual({ challenges_enabled: true, digest_frequency: 'daily', language: 'en' });
  });

  it('signs out: the session cookie no longer works', async () => {
    const c = await signIn('alice@example.test');
    const cookie = c.cookies.get('crgate_session')!;
    const csrf = await c.csrfOf('/q');
    const out = await c.post('/signout', { _csrf: csrf });
    expect(out.status).toBe(303);
    expect(out.location).toBe('/signin');
    const replay = new WebClient(t.publicUrl);
    replay.cookies.set('crgate_session', cookie);
    expect((await replay.get('/q')).status).toBe(303);
  });
});
