/**
 * crgate beside a real Postfix and Dovecot, configured from the deploy/ templates that
 * docs/operators.md shows: swaks -> Postfix (SMTP) -> crgate (LMTP, the real `crgate start`) ->
 * Dovecot (LMTP) -> Maildir. Challenges leave through Postfix's challenge listener and transport, from
 * their own source address, to a capture sink (Postfix's smtp-sink) that stands in for the Internet.
 * Also checks that every deploy/ file appears verbatim in docs/operators.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createTestEnvironment, freePort, type TestEnvironment } from './helpers/environment.js';
import { CLI, runCli, startEngineProcess, type EngineProcess } from './helpers/engine-process.js';
import { waitFor } from './helpers/sinks.js';
import { rawLmtp } from './helpers/lmtp-client.js';
import {
  DEPLOY,
  REPO,
  prepareMailStack,
  requireMailBinaries,
  runDeployScript,
  swaks,
  type MailStack,
  type SinkMessage,
} from './helpers/mail-stack.js';

const DOMAIN = 'example.test';
const ALICE = `alice@${DOMAIN}`;
const ALICE_PASSWORD = 'correct horse battery staple';
const TAP = `crgate-sent@${DOMAIN}`;
const CHALLENGE_SOURCE = '127.0.0.2';
/** Senders out on the "Internet": each domain publishes SPF allowing 127.0.0.1 (where swaks runs). */
const CAROL = 'carol@friend.test'; // whitelisted by alice
const BOB = 'bob@bob.test'; // a stranger
const DAVE = 'dave@dave.test'; // someone alice writes to first
const ERIN = 'erin@dave.test'; // a blind copy of that mail

describe('crgate behind Postfix and in front of Dovecot', () => {
  let t: TestEnvironment | undefined;
  let stack: MailStack | undefined;
  let engine: EngineProcess | undefined;
  let ports: Awaited<ReturnType<typeof allocatePorts>>;

  async function allocatePorts() {
    return { smtp: await freePort(), submission: await freePort(), challenge: await freePort(), sink: await freePort(), dovecotLmtp: await freePort() };
  }

  /** Every log there is, for a failure message. */
  function diagnostics(): string {
    return [stack?.diagnostics() ?? '', '--- crgate ---', (engine?.output() ?? '(not started)').trimEnd().split('\n').slice(-40).join('\n')].join('\n');
  }

  /** Runs a step; a failure carries the daemons' logs. */
  async function step<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Error) err.message = `${err.message}\n\n${diagnostics()}`;
      throw err;
    }
  }

  function send(from: string, to: string, subject: string, extra: string[] = []) {
    return swaks(['--server', `127.0.0.1:${ports.smtp}`, '--helo', 'client.test', '--from', from, '--to', to, '--h-From', from, '--h-To', to, '--h-Subject', subject, ...extra]);
  }

  async function mailFor(address: string, subject: string, what: string): Promise<string> {
    let found: string | undefined;
    await waitFor(() => {
      found = stack!.maildir(address).find((m) => m.text.includes(`Subject: ${subject}`))?.text;
      return found !== undefined;
    }, what);
    return found!;
  }

  async function sinkMessage(match: (m: SinkMessage) => boolean, what: string): Promise<SinkMessage> {
    let found: SinkMessage | undefined;
    // The sink writes a file while it receives: wait until the whole message (its final line) is in.
    await waitFor(() => {
      found = stack!.sinkMessages().find((m) => match(m) && /\n\.?\s*$/.test(m.text) && m.text.includes('\n\n'));
      return found !== undefined;
    }, what);
    return found!;
  }

  /** Postfix logs through postlogd, a moment after the fact. */
  async function postfixLogShows(pattern: RegExp, what: string): Promise<void> {
    await waitFor(() => pattern.test(stack!.postfixLog()), `Postfix's log to show ${what}`, 5_000);
  }

  async function whitelist(user: string): Promise<Array<{ value: string; source: string }>> {
    const { rows } = await t!.db.query(
      `SELECT l.value, l.source FROM list_entries l JOIN users u ON u.id = l.user_id WHERE u.address = $1 AND l.list = 'white' ORDER BY l.value`,
      [user],
    );
    return rows;
  }

  beforeAll(async () => {
    const binaries = requireMailBinaries();
    try {
      t = await createTestEnvironment();
      for (const domain of ['friend.test', 'bob.test', 'dave.test']) {
        t.dns.records[domain] = { MX: [{ exchange: `mx.${domain}`, priority: 10 }], TXT: ['v=spf1 ip4:127.0.0.1 -all'] };
      }
      ports = await allocatePorts();
      stack = prepareMailStack({
        ports: { ...ports, crgateLmtp: t.lmtpPort },
        protectedDomain: DOMAIN,
        tapAddress: TAP,
        publicUrl: t.publicUrl,
        challengeBindAddress: CHALLENGE_SOURCE,
        users: [{ address: ALICE, password: ALICE_PASSWORD }],
        binaries,
      });
      // crgate's side, exactly as rendered from deploy/crgate.env.tmpl.
      Object.assign(t.env, stack.crgateEnv);
      expect(t.env.CRGATE_DELIVER_TO).toBe(`lmtp://127.0.0.1:${ports.dovecotLmtp}`);
      expect(t.env.CRGATE_SMTP_RELAY).toBe(`smtp://127.0.0.1:${ports.challenge}`);

      // The operator's steps: a user, a whitelist entry, then Postfix's recipient map from crgate's users.
      const added = await runCli(['users', 'add', ALICE], t.env);
      expect(added.code, added.stderr).toBe(0);
      const listed = await runCli(['lists', 'add', 'white', CAROL, '--as', ALICE], t.env);
      expect(listed.code, `crgate lists add: ${listed.stdout}${listed.stderr}`).toBe(0);
      const map = await runDeployScript('postfix/crgate-recipients.sh', [stack.vars.RECIPIENTS_MAP!], {
        ...t.env,
        CRGATE: `${process.execPath} ${CLI}`,
      });
      expect(map.code, map.output).toBe(0);
      expect(readFileSync(stack.vars.RECIPIENTS_MAP!, 'utf8')).toBe(`${ALICE} ${ALICE}\n`);

      // The real `crgate start`, held from the first moment so that afterAll can end it whatever happens.
      engine = startEngineProcess(t.env);
      await Promise.all([stack.startDaemons(), engine.waitForLog((l) => l.event === 'engine.started', 'crgate start')]);
    } catch (err) {
      if (err instanceof Error) err.message = `${err.message}\n\n${diagnostics()}`;
      throw err;
    }
  }, 60_000);

  afterAll(async () => {
    // Postfix first, so that no LMTP session it caches keeps crgate's graceful stop waiting.
    await stack?.stop();
    await engine?.kill('SIGTERM');
    await t?.cleanup();
  });

  it('refuses an unknown recipient during the SMTP conversation, and the tap address from outside', () =>
    step(async () => {
      const unknown = await send(BOB, `nobody@${DOMAIN}`, 'Anyone there?');
      expect(unknown.code, unknown.transcript).toBe(24); // swaks: no recipient accepted
      expect(unknown.transcript).toMatch(/<\*\* +550 5\.1\.1 <nobody@example\.test>: Recipient address rejected/);
      const tap = await send(BOB, TAP, 'Let me in');
      expect(tap.code, tap.transcript).toBe(24);
      expect(tap.transcript).toMatch(/<\*\* +550 5\.1\.1 <crgate-sent@example\.test>/);
      // Refused, not accepted and bounced: Postfix queued nothing for them.
      await postfixLogShows(/NOQUEUE: reject: RCPT from .*<crgate-sent@example\.test>/, 'the refusals');
      expect(stack!.postfixLog()).toMatch(/NOQUEUE: reject: RCPT from .*<nobody@example\.test>/);
      expect(stack!.postfixLog()).not.toMatch(/status=bounced/);
    }));

  /**
   * One SMTP conversation with Postfix's port 25 up to the RCPT replies, then QUIT (no DATA): swaks
   * cannot say SMTPUTF8. Resolves with each recipient's reply line.
   */
  async function rcptReplies(from: string, recipients: string[], smtputf8: boolean): Promise<string[]> {
    // rawLmtp speaks any line protocol that greets first: here SMTP, to Postfix's port 25.
    const smtp = await rawLmtp(ports.smtp);
    try {
      await smtp.command('EHLO client.test');
      await smtp.command(`MAIL FROM:<${from}>${smtputf8 ? ' SMTPUTF8' : ''}`);
      const replies: string[] = [];
      for (const r of recipients) replies.push(...(await smtp.command(`RCPT TO:<${r}>`)));
      return replies;
    } finally {
      smtp.close();
    }
  }

  it("refuses at RCPT a +extension of a user's address that crgate's LMTP would refuse, so that nothing bounces to a forged sender", () =>
    step(async () => {
      const forged = 'victim@friend.test';
      const refused = [
        `"alice+a b"@${DOMAIN}`, // smtp-server splits RCPT at white space
        `"alice+a..b"@${DOMAIN}`, // its local-part syntax check
        `"alice+(x)"@${DOMAIN}`, // a quoted local part crgate does not read as alice
        `"alice+x."@${DOMAIN}`,
        `"alice+a@b"@${DOMAIN}`,
        `alice+${'x'.repeat(240)}@${DOMAIN}`, // over smtp-server's 253 characters
      ];
      const utf8Refused = [`alice+with\u00a0ESMTPSA@${DOMAIN}`];
      const replies = [...(await rcptReplies(forged, refused, false)), ...(await rcptReplies(forged, utf8Refused, true))];
      [...refused, ...utf8Refused].forEach((r, i) => expect(replies[i], `RCPT TO:<${r}>`).toMatch(/^5\d\d 5\.1\.3 /));
      // What crgate reads as alice is still accepted: only the extension is checked.
      const accepted = await rcptReplies(forged, [`alice+lists@${DOMAIN}`, `"alice+x"@${DOMAIN}`, `${ALICE.toUpperCase()}`], false);
      for (const reply of accepted) expect(reply).toMatch(/^250 /);
      await postfixLogShows(/NOQUEUE: reject: RCPT from .*<alice\+with\u00a0ESMTPSA@example\.test>/, 'the refusals');
      expect(stack!.postfixLog()).not.toMatch(/status=bounced/);
      expect(stack!.sinkMessages().filter((m) => m.rcptTo.includes(forged))).toEqual([]);
    }));

  it("delivers a whitelisted sender's mail through crgate to Dovecot's Maildir", () =>
    step(async () => {
      const r = await send(CAROL, ALICE, 'Minutes of Monday');
      expect(r.code, r.transcript).toBe(0);
      const mail = await mailFor(ALICE, 'Minutes of Monday', "carol's message in alice's Maildir");
      // Dovecot's headers above crgate's: Postfix -> crgate -> Dovecot, in that order.
      expect(mail).toMatch(/^Return-Path: <carol@friend\.test>\r?\nDelivered-To: alice@example\.test\r?\n/);
      expect(mail).toMatch(/^X-Crgate-Decision: deliver; reasons=WHITELIST_ADDRESS/m);
      // Postfix forwarded the client's address (XFORWARD), so SPF was checked against swaks's 127.0.0.1.
      // crgate delivers before it records the message, so the row may follow the Maildir file.
      const recorded = async () =>
        (await t!.db.query(`SELECT client_address, client_helo FROM messages WHERE mail_from = $1`, [CAROL])).rows;
      await waitFor(async () => (await recorded()).length > 0, "carol's message recorded by crgate");
      expect(await recorded()).toEqual([{ client_address: '127.0.0.1', client_helo: 'client.test' }]);
    }));

  let challenge: SinkMessage;
  it("holds a stranger's mail and challenges him through Postfix's challenge listener, from its own address", () =>
    step(async () => {
      const r = await send(BOB, ALICE, 'Lunch on Thursday?');
      expect(r.code, r.transcript).toBe(0);
      challenge = await sinkMessage((m) => m.rcptTo.includes(BOB), 'the challenge at the sink');
      expect(challenge.mailFrom).toBe('<>');
      expect(challenge.rcptTo).toMatch(new RegExp(`^<${BOB}> .*NOTIFY=NEVER`));
      // The challenge transport: its own source address and HELO name.
      expect(challenge.clientAddr).toBe(CHALLENGE_SOURCE);
      expect(challenge.helo).toBe(`challenge.${DOMAIN}`);
      expect(challenge.text).toMatch(/^Subject: C\/R: please confirm your message: Lunch on Thursday\?$/m);
      expect(challenge.text).toMatch(/^Auto-Submitted: auto-replied \(challenge\)$/m);
      await postfixLogShows(/postfix\/challenge\/smtp\[\d+\]: .*to=<bob@bob\.test>.*status=sent/, 'the challenge sent by the challenge transport');
      expect(stack!.maildir(ALICE).some((m) => m.text.includes('Lunch on Thursday?'))).toBe(false);

      // The challenge listener carries null-sender mail from crgate's hosts and nothing else.
      const other = await swaks(['--server', `127.0.0.1:${ports.challenge}`, '--from', ALICE, '--to', BOB]);
      expect(other.code, other.transcript).toBe(24);
      expect(other.transcript).toMatch(/ 554 5\.7\.1 <alice@example\.test>: Sender address rejected: Access denied/);
    }));

  it('delivers the held message to Dovecot when he confirms', () =>
    step(async () => {
      const link = new RegExp(`${t!.publicUrl}/c/[A-Za-z0-9_-]{43}`).exec(challenge.text)?.[0];
      expect(link, challenge.text).toBeDefined();
      expect((await fetch(link!)).status).toBe(200); // the page; changes nothing
      const confirmed = await fetch(link!, { method: 'POST' });
      expect(confirmed.status).toBe(200);
      const mail = await mailFor(ALICE, 'Lunch on Thursday?', "bob's released message in alice's Maildir");
      expect(mail).toMatch(/^X-Crgate-Decision: released; reasons=.*UNKNOWN_SENDER/m);
      expect(await whitelist(ALICE)).toContainEqual({ value: BOB, source: 'confirmed' });
    }));

  it("copies alice's submitted mail to the tap, which whitelists its To recipient but not its Bcc (Postfix drops Bcc: before the copy); her mail leaves from the ordinary address", () =>
    step(async () => {
      const submit = (from: string) =>
        swaks([
          '--server', `127.0.0.1:${ports.submission}`, '--tls', '--auth', 'PLAIN', '--auth-user', ALICE, '--auth-password', ALICE_PASSWORD,
          '--from', from, '--to', `${DAVE},${ERIN}`, '--h-From', from, '--h-To', DAVE, '--h-Subject', 'Quote for the roof',
          '--header', `Message-ID: <roof-${randomBytes(4).toString('hex')}@example.test>`, '--header', `Bcc: ${ERIN}`,
        ]);
      // The login must own the envelope sender, or the tap would whitelist for somebody else.
      const forged = await submit(`someone-else@${DOMAIN}`);
      expect(forged.code, forged.transcript).not.toBe(0);
      expect(forged.transcript).toMatch(/ 553 5\.7\.1 <someone-else@example\.test>: Sender address rejected: not owned by user/);

      const r = await submit(ALICE);
      expect(r.code, r.transcript).toBe(0);
      const out = await sinkMessage((m) => m.rcptTo.includes(DAVE), "alice's mail to dave at the sink");
      expect(out.mailFrom).toMatch(/^<alice@example\.test>/);
      expect(out.clientAddr).toBe('127.0.0.1');
      expect(out.text).toMatch(/\(Authenticated sender: alice@example\.test\)/);
      await waitFor(async () => (await whitelist(ALICE)).some((e) => e.value === DAVE), "dave on alice's whitelist (source outgoing)");
      expect(await whitelist(ALICE)).toContainEqual({ value: DAVE, source: 'outgoing' });
      await engine!.waitForLog((l) => l.event === 'tap.recorded' && l.user === ALICE, 'tap.recorded for alice', 5_000);
      // cleanup removes Bcc: (message_drop_headers) from the one queue file every recipient, the tap's
      // copy too, is delivered from: the tap cannot see blind copies.
      expect((await whitelist(ALICE)).map((e) => e.value)).not.toContain(ERIN);

      // Dave's answer now goes straight in.
      const reply = await send(DAVE, ALICE, 'Re: Quote for the roof');
      expect(reply.code, reply.transcript).toBe(0);
      const mail = await mailFor(ALICE, 'Re: Quote for the roof', "dave's reply in alice's Maildir");
      expect(mail).toMatch(/^X-Crgate-Decision: deliver; reasons=WHITELIST_ADDRESS/m);
    }));

  it('never sent a bounce: every challenge and message left through the expected transport', () =>
    step(async () => {
      const log = stack!.postfixLog();
      expect(log).not.toMatch(/status=bounced/);
      expect(log).not.toMatch(/postfix\/bounce\[/);
      const fromChallengeAddress = stack!.sinkMessages().filter((m) => m.clientAddr === CHALLENGE_SOURCE);
      expect(fromChallengeAddress.map((m) => m.mailFrom)).toEqual(['<>']);
    }));

  it('answers the monitoring endpoints the docs name', () =>
    step(async () => {
      const ops = engine!.logs.find((l) => l.event === 'ops.listening') as { port: number } | undefined;
      expect(ops, 'crgate logged no ops.listening').toBeDefined();
      const base = `http://127.0.0.1:${ops!.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { postgres: 'ok' } });
      await waitFor(async () => (await t!.db.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n === 0, 'an empty outbox');
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^crgate_decisions_total\{decision="deliver"\} [1-9]/m);
      expect(metrics).toMatch(/^crgate_challenges_total\{[^}]*outcome="sent"[^}]*\} 1$/m);
      expect(metrics).toMatch(/^crgate_outbox_rows 0$/m);
      // The web role's own health check, for the reverse proxy in front of CRGATE_PUBLIC_URL.
      expect((await fetch(`${t!.publicUrl}/healthz`)).status).toBe(200);
    }));
});

describe('deploy/ and docs/operators.md', () => {
  function deployFiles(dir = DEPLOY): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? deployFiles(p) : [p];
    });
  }

  it('shows every deploy/ file verbatim, under its name', () => {
    const docs = readFileSync(join(REPO, 'docs', 'operators.md'), 'utf8');
    const files = deployFiles();
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const name = relative(REPO, file);
      const text = readFileSync(file, 'utf8');
      expect(docs, `docs/operators.md does not name ${name}`).toContain(`\`${name}\`:`);
      expect(docs, `docs/operators.md does not contain ${name} verbatim`).toContain(text.trimEnd());
    }
  });
});
