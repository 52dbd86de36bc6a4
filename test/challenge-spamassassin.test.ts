/**
 * A challenge must not look like spam. The engine runs in-process with a production-like public URL,
 * Bob's message is held and challenged, and the challenge exactly as it reached the relay is scored by
 * SpamAssassin (Debian package `spamassassin`, installed by .ci/run) with its local rules only:
 * no DNS, no network tests, no Bayes, so the score is the same on every machine. See
 * docs/challenge-format.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addUser } from '@crgate/store';
import { REMOTE_CLIENT, createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { waitFor, type Captured, type Sink } from './helpers/sinks.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
const PUBLIC_URL = 'https://mail.example.org';
const MAX_SCORE = 2.0;

/**
 * SpamAssassin options: local tests only (-L, and no DNS at all), no Bayes (an untrained database never
 * scores, and learning would make runs differ), and one extra header listing every rule hit with its
 * score, so the total can be summed exactly rather than read rounded to one decimal.
 */
const SA_ARGS = [
  '-L',
  '-t',
  '--cf=dns_available no',
  '--cf=use_bayes 0',
  '--cf=bayes_auto_learn 0',
  '--cf=add_header all Crgate-Tests _TESTSSCORES(,)_',
];

const INSTALL_HINT =
  'SpamAssassin is not installed: this test needs the `spamassassin` command from the Debian package `spamassassin` ' +
  '(apt-get install -y --no-install-recommends spamassassin); .ci/run installs it.';

interface SpamReport {
  score: number;
  hits: Array<{ rule: string; score: number }>;
  /** SpamAssassin's own "Content analysis details" table: points, rule and description per line. */
  table: string;
  status: string;
  ms: number;
}

function rfc5322Date(d: Date): string {
  const [day, date, month, year, time] = d.toUTCString().replace(',', '').split(' ');
  return `${day}, ${date} ${month} ${year} ${time} +0000`;
}

/**
 * The challenge as Bob's mail server would hand it to its filter: the operator's relay
 * (mail.example.org) took it from crgate over loopback and passed it to Bob's MX, which put the null
 * envelope sender into Return-Path. The relay's address is a public one on purpose (long the address of
 * example.org): SpamAssassin scores the documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24)
 * as RCVD_ILLEGAL_IP, which a real relay never shows.
 */
function asReceivedByBob(raw: Buffer, now: Date): string {
  const date = rfc5322Date(now);
  return (
    'Return-Path: <>\r\n' +
    'Received: from mail.example.org (mail.example.org [93.184.216.34])\r\n' +
    '\tby mx.remote.test (Postfix) with ESMTPS id 4bQ9Zt1xKDz9sWq\r\n' +
    `\tfor <bob@remote.test>; ${date}\r\n` +
    'Received: from crgate.localdomain (localhost [127.0.0.1])\r\n' +
    '\tby mail.example.org (Postfix) with ESMTP id 4bQ9Zs6mHNz1wXk\r\n' +
    `\tfor <bob@remote.test>; ${date}\r\n` +
    raw.toString('utf8')
  );
}

function header(message: string, name: string): string | undefined {
  const head = message.split(/\r?\n\r?\n/, 1)[0]!;
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head);
  return m ? m[1]!.replace(/\r?\n[ \t]+/g, ' ').trim() : undefined;
}

function spamassassin(message: string): Promise<SpamReport> {
  const home = mkdtempSync(join(tmpdir(), 'crgate-sa-'));
  const started = Date.now();
  return new Promise<SpamReport>((resolve, reject) => {
    // A private HOME: SpamAssassin writes a user_prefs file there and must not touch the real one.
    const child = spawn('spamassassin', SA_ARGS, { env: { ...process.env, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => reject(new Error(`${INSTALL_HINT} (${err.message})`)));
    child.on('close', (code) => {
      const ms = Date.now() - started;
      const status = header(stdout, 'X-Spam-Status');
      const tests = header(stdout, 'X-Spam-Crgate-Tests');
      if (code !== 0 || status === undefined || tests === undefined) {
        return reject(new Error(`spamassassin exited ${code} without a report\nstderr:\n${stderr}\nstdout:\n${stdout.slice(0, 2000)}`));
      }
      const hits = tests
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s && s !== 'none')
        .map((s) => {
          const [rule, score] = s.split('=');
          return { rule: rule!, score: Number(score) };
        });
      const score = Math.round(hits.reduce((sum, h) => sum + h.score, 0) * 1000) / 1000;
      const table = /Content analysis details:[\s\S]*?\n---- -+ -+\r?\n([\s\S]*?)(?:\r?\n\r?\n|$)/.exec(stdout)?.[1]?.trimEnd() || '(no rule hit)';
      resolve({ score, hits, table, status, ms });
    });
    child.stdin.on('error', () => undefined); // an early exit is reported by 'close'
    child.stdin.end(message);
  }).finally(() => rmSync(home, { recursive: true, force: true }));
}

describe('challenge format under SpamAssassin', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  let spamassassinVersion: string | undefined;
  let sent: Promise<Captured> | undefined;

  /** Bob's message is held and challenged once; every test looks at that one challenge. */
  function theChallenge(): Promise<Captured> {
    sent ??= (async () => {
      const result = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
      expect(result.error).toBeNull();
      expect(result.data?.[0]?.[1]).toBe(250);
      await waitFor(() => smtpSink.messages.length === 1, 'the challenge');
      return smtpSink.messages[0]!;
    })();
    return sent;
  }

  beforeAll(async () => {
    const version = spawnSync('spamassassin', ['--version'], { encoding: 'utf8' });
    if (!version.error && version.status === 0) spamassassinVersion = /SpamAssassin version (\S+)/.exec(version.stdout)?.[1] ?? 'unknown';

    t = await createMailTestEnvironment({}, { dsn: true });
    ({ lmtpSink, smtpSink } = t);
    // Links and From: as in production; the web role still listens on the test port (CRGATE_WEB_LISTEN).
    t.env.CRGATE_PUBLIC_URL = PUBLIC_URL;
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it(`scores a real challenge below ${MAX_SCORE.toFixed(1)} with SpamAssassin`, async () => {
    // Fail, never skip, when SpamAssassin is missing: CI installs it and the rule must be checked.
    if (!spamassassinVersion) throw new Error(INSTALL_HINT);
    const challenge = await theChallenge();
    const raw = challenge.raw.toString('utf8');
    // It is the production-like challenge: From: and the one link are on the public host.
    expect(header(raw, 'From')).toBe('crgate@mail.example.org');
    expect(raw).toMatch(new RegExp(`${PUBLIC_URL}/c/[A-Za-z0-9_-]{43}`));

    const report = await spamassassin(asReceivedByBob(challenge.raw, new Date()));
    const hits = report.hits.map((h) => `${h.rule}=${h.score}`).join(', ') || 'none';
    console.log(`SpamAssassin ${spamassassinVersion} score ${report.score} (${report.ms} ms); rules hit: ${hits}\n${report.table}`);
    expect(
      report.score,
      `the challenge scored ${report.score} with SpamAssassin, must be below ${MAX_SCORE}.\nRules hit: ${hits}\n${report.table}\n\nChallenge:\n${raw}`,
    ).toBeLessThan(MAX_SCORE);
    // The header SpamAssassin adds agrees (it shows the total rounded to one decimal).
    expect(report.status).toMatch(/^No, score=-?\d+\.\d/);
  });

  it('sends exactly the challenge shown in docs/challenge-format.md', async () => {
    const challenge = await theChallenge();
    expect(challenge.mailFrom).toBe('');
    expect(challenge.rcptTo).toEqual(['bob@remote.test']);
    expect(challenge.rcptArgs[0]).toMatchObject({ NOTIFY: 'NEVER' });
    // What differs from run to run: the token, the challenge id in the Message-ID, the date.
    const normalise = (text: string) =>
      text
        .replace(/\r\n/g, '\n')
        .replace(/\/c\/(?:[A-Za-z0-9_-]{43}|<token>)$/m, '/c/<token>')
        .replace(/<cr-[0-9a-f-]{36}@/, '<cr-<id>@')
        .replace(/^Date: .*$/m, 'Date: <date>')
        .trimEnd();
    const doc = readFileSync(new URL('../docs/challenge-format.md', import.meta.url), 'utf8');
    const sample = /The message, byte for byte[^\n]*\n(?:[^\n]*\n)*?```text\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(sample, 'docs/challenge-format.md has no sample challenge after "The message, byte for byte"').toBeDefined();
    expect(normalise(challenge.raw.toString('utf8')), 'the challenge differs from the sample in docs/challenge-format.md: update one or the other').toBe(
      normalise(sample!),
    );
  });
});
