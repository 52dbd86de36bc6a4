/**
 * The backbone, end to end, as an operator runs it: the real `crgate start` process, PostgreSQL and
 * Redis, Python's smtplib.LMTP as the MTA, and smtp-server sinks standing in for Dovecot (LMTP) and
 * the relay (SMTP). Follows the acceptance steps of the backbone issue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { simpleParser } from 'mailparser';
import { REMOTE_CLIENT, createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { runCli, startEngineReady, type EngineProcess } from './helpers/engine-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor, type Sink } from './helpers/sinks.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
const message = (n: number) => FIXTURE.replace('<lunch-1@remote.test>', `<lunch-${n}@remote.test>`).replace('Thursday?', `Thursday? (${n})`);

describe('challenge/response loop', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: EngineProcess;
  let challengeLink: string;

  beforeAll(async () => {
    t = await createMailTestEnvironment({}, { dsn: true });
    ({ lmtpSink, smtpSink } = t);
    const added = await runCli(['users', 'add', 'alice@example.test'], t.env);
    expect(added.code, added.stderr).toBe(0);
    engine = await startEngineReady(t.env);
  });

  afterAll(async () => {
    await engine?.kill();
    await t?.cleanup();
  });

  it('holds mail from an unknown sender and sends exactly one standardised challenge', async () => {
    const result = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], message(1), { xforward: REMOTE_CLIENT });
    expect(result.error).toBeNull();
    expect(result.data).toEqual([['alice@example.test', 250, expect.stringContaining('held')]]);

    await waitFor(() => smtpSink.messages.length === 1, 'the challenge');
    expect(lmtpSink.messages).toHaveLength(0);

    const challenge = smtpSink.messages[0]!;
    expect(challenge.mailFrom).toBe('');
    expect(challenge.rcptTo).toEqual(['bob@remote.test']);
    expect(challenge.rcptArgs[0]).toMatchObject({ NOTIFY: 'NEVER' });

    const parsed = await simpleParser(challenge.raw);
    expect(parsed.from?.value[0]?.address).toBe('crgate@localhost');
    expect((parsed.to as { value: Array<{ address: string }> }).value[0]?.address).toBe('bob@remote.test');
    expect(parsed.subject).toMatch(/^C\/R: /);
    expect(parsed.subject).toContain('Lunch on Thursday? (1)');
    expect(parsed.headers.get('auto-submitted')).toBe('auto-replied (challenge)');
    expect(parsed.inReplyTo).toBe('<lunch-1@remote.test>');
    expect(parsed.references).toBe('<lunch-1@remote.test>');
    expect(parsed.messageId).toMatch(/^<cr-[0-9a-f-]+@localhost>$/);
    expect(parsed.html).toBeFalsy();
    expect(parsed.attachments).toHaveLength(0);
    expect(String(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value)).toBe('text/plain');
    const body = parsed.text ?? '';
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(512);
    expect(body).not.toContain('lunch on Thursday');
    expect(body).not.toContain('starts with a dot');
    const urls = body.match(/https?:\/\/\S+/g) ?? [];
    expect(urls).toHaveLength(1);
    expect(urls[0]).toMatch(new RegExp(`^${t.publicUrl}/c/[A-Za-z0-9_-]{43}$`));
    challengeLink = urls[0]!;

    // The challenge's Message-ID is remembered, so a reply or bounce to it can be recognised later.
    // The relay's 250 comes before the worker records the send: wait for the record, not just the mail.
    const challenges = async () => (await t.db.query('SELECT our_message_id, status, token_hash FROM challenges')).rows;
    await waitFor(async () => (await challenges())[0]?.status === 'sent', 'the challenge recorded as sent');
    const rows = await challenges();
    expect(rows).toEqual([{ our_message_id: parsed.messageId, status: 'sent', token_hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(JSON.stringify(rows)).not.toContain(challengeLink.split('/c/')[1]);
  });

  it('sends no second challenge when the same sender writes again', async () => {
    for (const n of [2, 3]) {
      const result = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], message(n), { xforward: REMOTE_CLIENT });
      expect(result.data?.[0]?.[1]).toBe(250);
    }
    // Give the outbox relay and the worker ample time to (wrongly) send another.
    await sleep(1500);
    expect(smtpSink.messages).toHaveLength(1);
    expect(lmtpSink.messages).toHaveLength(0);
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM message_recipients WHERE status = 'held' AND challenge_id IS NOT NULL`);
    expect(rows[0].n).toBe(3);
  });

  it('shows a page on GET and releases nothing', async () => {
    const res = await fetch(challengeLink);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('alice@example.test');
    expect(html).toContain('Lunch on Thursday? (1)');
    expect(html).toMatch(/<form method="post" action="\/c\/[A-Za-z0-9_-]{43}">/);
    expect(html).toMatch(/<form method="post" action="\/c\/[A-Za-z0-9_-]{43}\/no-challenge">/);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    await sleep(500);
    expect(lmtpSink.messages).toHaveLength(0);
  });

  it('releases all held messages byte-identical and whitelists the sender on POST', async () => {
    const res = await fetch(challengeLink, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Thank you');
    await waitFor(() => lmtpSink.messages.length === 3, 'three released messages');
    const bodies = lmtpSink.messages.map((m) => m.raw.toString('utf8'));
    for (const n of [1, 2, 3]) {
      const original = message(n);
      const delivered = bodies.find((b) => b.includes(`<lunch-${n}@remote.test>`));
      expect(delivered, `message ${n}`).toBeDefined();
      // crgate prepends its decision header; every original byte follows unchanged.
      expect(delivered!.endsWith(original)).toBe(true);
      // crgate's own header lines come first: its decision, then the authentication results.
      const added = delivered!.slice(0, delivered!.length - original.length);
      expect(added).toMatch(/^X-Crgate-Decision: released; reasons=[^\r\n]*UNKNOWN_SENDER[^\r\n]*\r\n(?:[A-Za-z-]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)+$/);
      expect(added).toMatch(/^Authentication-Results: crgate\.localdomain;[\s\S]*spf=pass/m);
    }
    for (const m of lmtpSink.messages) {
      expect(m.rcptTo).toEqual(['alice@example.test']);
      expect(m.mailFrom).toBe('bob@remote.test');
    }
    const { rows } = await t.db.query(
      `SELECT l.kind, l.value, l.source FROM list_entries l JOIN users u ON u.id = l.user_id WHERE u.address = 'alice@example.test' AND l.list = 'white'`,
    );
    expect(rows).toEqual([{ kind: 'address', value: 'bob@remote.test', source: 'confirmed' }]);
  });

  it("logs one message's life under one trace id, from LMTP to challenge to release", async () => {
    const decided = engine.logs.find((l) => l.event === 'ingest.decided' && l.messageId === '<lunch-1@remote.test>');
    expect(decided?.trace).toMatch(/^[0-9a-f-]{36}$/);
    const trace = decided!.trace;
    // The release is logged just after the sink got the message: wait for the line, do not race it.
    await engine.waitForLog((l) => l.trace === trace && l.event === 'release.delivered', 'the release logged under the trace id');
    const events = engine.logs.filter((l) => l.trace === trace).map((l) => l.event);
    expect(events).toEqual(expect.arrayContaining(['ingest.decided', 'challenge.sent', 'release.delivered']));
  });

  it('never writes the challenge token or the secret to its logs', async () => {
    const token = challengeLink.split('/c/')[1]!;
    const { rows } = await t.db.query(`SELECT value FROM settings WHERE key = 'secret'`);
    const output = engine.output();
    expect(output.length).toBeGreaterThan(1000);
    expect(output).not.toContain(token);
    expect(output).not.toContain(rows[0].value);
  });

  it('writes each log line with one component field: a JSON parser that refuses repeated keys reads every line', async () => {
    const lines = engine.output().split('\n').filter((l) => l.startsWith('{'));
    const components = new Set(engine.logs.map((l) => l.component));
    expect([...components]).toEqual(expect.arrayContaining(['ingest', 'worker', 'web.challenge']));
    expect(lines.filter((l) => (l.match(/"component":/g) ?? []).length > 1)).toEqual([]);
  });

  it('answers a spent link with 410', async () => {
    expect((await fetch(challengeLink, { method: 'POST' })).status).toBe(410);
    expect((await fetch(challengeLink)).status).toBe(410);
    expect((await fetch(`${t.publicUrl}/c/${'A'.repeat(43)}`)).status).toBe(404);
    expect((await fetch(`${t.publicUrl}/c/not-a-token`, { method: 'POST' })).status).toBe(404);
  });

  it('delivers a whitelisted sender at once, without a challenge', async () => {
    const result = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], message(4), { xforward: REMOTE_CLIENT });
    expect(result.data?.[0]?.[1]).toBe(250);
    // Delivery happens before the 250: the sink already has it.
    expect(lmtpSink.messages).toHaveLength(4);
    const fourth = lmtpSink.messages[3]!.raw.toString('utf8');
    expect(fourth).toMatch(/^X-Crgate-Decision: deliver; reasons=WHITELIST_ADDRESS[,\r]/);
    expect(fourth).toMatch(/^Authentication-Results: crgate\.localdomain;[\s\S]*spf=pass/m);
    expect(fourth.endsWith(message(4))).toBe(true);
    await sleep(500);
    expect(smtpSink.messages).toHaveLength(1);
  });

  it('refuses an unknown recipient at RCPT time with 550 5.1.1', async () => {
    const result = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['nobody@example.test'], message(5));
    expect(result.rcpt).toEqual([['nobody@example.test', 550, expect.stringMatching(/^5\.1\.1 /)]]);
    expect(result.data).toBeNull();
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const exit = await engine.kill('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(engine.logs.some((l) => l.event === 'engine.stopped')).toBe(true);
  });
});
