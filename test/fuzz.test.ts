/**
 * Fuzzing the parse-and-decide path with mutated real mail: byte flips, truncation, header bombs,
 * broken encodings and charsets, deep MIME nesting. Every input must come out with a decision — no
 * exception, no unhandled rejection, and bounded time. The seed is fixed, so a failure replays; a
 * failing input (a crash, over 1 s of CPU, or a parse cut off at its deadline) is written to
 * test/fixtures/fuzz-failures/ (ignored by git) to be moved into test/fixtures/fuzz-regressions/, which
 * test/fuzz-regressions.test.ts replays on every run.
 * CRGATE_FUZZ_COUNT changes the number of inputs (default 100,000) and CRGATE_FUZZ_SEED the seed.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { decide, type PolicySettings, type RecipientFacts } from '@crgate/core';
import { envelopeSenderOf, parseHeaders, parseMessage } from '@crgate/ingest';
import { tokenize } from '@crgate/classifier';

const COUNT = Number(process.env.CRGATE_FUZZ_COUNT ?? 100_000);
const SEED = Number(process.env.CRGATE_FUZZ_SEED ?? 20261123);
const CORPUS = fileURLToPath(new URL('../../shared/corpus/', import.meta.url));
const FAILURES = fileURLToPath(new URL('./fixtures/fuzz-failures/', import.meta.url));

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seeds(): Buffer[] {
  const out: Buffer[] = [];
  for (const folder of ['ham', 'spam', 'bounces', 'lists', 'autoreplies', 'feedback', 'dmarc']) {
    const files = readdirSync(CORPUS + folder).sort();
    for (let i = 0; i < files.length; i += Math.max(1, Math.floor(files.length / 40))) out.push(readFileSync(join(CORPUS, folder, files[i]!)));
  }
  return out;
}

type Mutation = (raw: Buffer, r: () => number) => Buffer;
const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

const MUTATIONS: Record<string, Mutation> = {
  flipBytes(raw, r) {
    const b = Buffer.from(raw);
    for (let i = 0, n = 1 + Math.floor(r() * 32); i < n && b.length; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    return b;
  },
  truncate(raw, r) {
    return raw.subarray(0, Math.floor(r() * raw.length));
  },
  headerBomb(raw, r) {
    const name = pick(r, ['Received', 'X-Junk', 'To', 'References', 'Content-Type', 'Subject']);
    const line = `${name}: ${'a'.repeat(Math.floor(r() * 200))} <x${Math.floor(r() * 1e6)}@bomb.test>\r\n`;
    return Buffer.concat([Buffer.from(line.repeat(1 + Math.floor(r() * 5000))), raw]);
  },
  longFoldedHeader(raw, r) {
    return Buffer.concat([Buffer.from(`Subject: x${'\r\n y'.repeat(1 + Math.floor(r() * 20000))}\r\n`), raw]);
  },
  badEncodedWords(raw, r) {
    const words = ['=?utf-8?B?####?=', '=?x-unknown?Q?=FF=FE?=', '=?utf-8?Q?' + '=E2'.repeat(50) + '?=', '=?' + 'A'.repeat(300) + '?B?QUJD?=', '=?utf-16?B?2D3dAA==?='];
    return Buffer.concat([Buffer.from(`Subject: ${pick(r, words)} ${pick(r, words)}\r\nFrom: ${pick(r, words)} <a@b.test>\r\n`), raw]);
  },
  brokenMime(raw, r) {
    const boundary = 'b' + Math.floor(r() * 1e6);
    const depth = 1 + Math.floor(r() * 1000);
    let body = '';
    for (let i = 0; i < depth; i++) body += `--${boundary}${i}\r\nContent-Type: multipart/mixed; boundary="${boundary}${i + 1}"\r\n\r\n`;
    body += `Content-Type: text/html; charset=${pick(r, ['x-bogus', 'utf-7', 'iso-2022-jp', '"', ''])}\r\nContent-Transfer-Encoding: ${pick(r, ['base64', 'quoted-printable', 'x-uuencode', '8bit'])}\r\n\r\n${'<p>=ZZ!!@@'.repeat(Math.floor(r() * 500))}\r\n`;
    return Buffer.concat([Buffer.from(`From: fuzz@fuzz.test\r\nTo: alice@example.test\r\nContent-Type: multipart/mixed; boundary="${boundary}0"\r\n\r\n${body}`), raw.subarray(0, 2000)]);
  },
  hugeBase64Line(raw, r) {
    return Buffer.from(
      `From: fuzz@fuzz.test\r\nTo: alice@example.test\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n${'QUJD'.repeat(1 + Math.floor(r() * 100_000))}\r\n`,
    );
  },
  nulAndControl(raw, r) {
    const b = Buffer.from(raw);
    for (let i = 0, n = 1 + Math.floor(r() * 64); i < n && b.length; i++) b[Math.floor(r() * b.length)] = pick(r, [0, 1, 8, 12, 13, 10, 27, 127]);
    return b;
  },
  noHeaderEnd(raw) {
    return Buffer.from(raw.toString('latin1').replace(/\r?\n\r?\n/g, '\r\n'), 'latin1');
  },
};

const policy: PolicySettings = { challengeRequiresAuth: true, localDomains: new Set(['example.test']) };
const alice: RecipientFacts = { userId: 1, address: 'alice@example.test', addresses: ['alice@example.test'], challengesEnabled: true, senderOptedOut: false };

describe('fuzzing parse and decision', () => {
  it(`decides every one of ${COUNT} mutated messages without an exception`, async () => {
    const base = seeds();
    const r = prng(SEED);
    const names = Object.keys(MUTATIONS);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const failures: string[] = [];
    let slowest = 0;
    try {
      for (let i = 0; i < COUNT; i++) {
        const name = pick(r, names);
        const input = MUTATIONS[name]!(pick(r, base), r);
        const started = process.hrtime.bigint();
        const cpuBefore = process.cpuUsage();
        let timedOut = false;
        try {
          const { facts } = parseMessage(input, { mailFrom: envelopeSenderOf(parseHeaders(input).headers) });
          const d = decide(facts, alice, policy);
          expect(['deliver', 'challenge', 'quarantine', 'discard']).toContain(d.action);
          // Tokenizing is the costly part: every tenth input keeps the run within CI's time.
          if (i % 10 === 0) timedOut = (await tokenize(input)).includes('control:parse-timeout');
        } catch (err) {
          mkdirSync(FAILURES, { recursive: true });
          const file = join(FAILURES, `seed${SEED}-${i}-${name}.eml`);
          writeFileSync(file, input);
          failures.push(`${file}: ${(err as Error).message}`);
          if (failures.length >= 5) break;
        }
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
        const cpu = process.cpuUsage(cpuBefore);
        // Over the 1 s CPU budget, or a parse that had to be cut off, is not a crash, but it is an input
        // worth keeping as a regression fixture. CPU, not wall time: a busy machine must not flood the folder.
        if ((cpu.user + cpu.system) / 1000 > 1000 || timedOut) {
          mkdirSync(FAILURES, { recursive: true });
          writeFileSync(join(FAILURES, `seed${SEED}-${i}-${name}-slow.eml`), input);
        }
        slowest = Math.max(slowest, elapsed);
      }
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    console.log(`fuzz: ${COUNT} inputs, seed ${SEED}, slowest ${slowest.toFixed(1)} ms`);
    expect(failures).toEqual([]);
    expect(unhandled).toEqual([]);
    // A wall-clock bound far above the 1 s CPU goal, only to catch unbounded work.
    expect(slowest).toBeLessThan(5000);
  }, 900_000);
});
