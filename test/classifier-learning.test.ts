/**
 * The classifier in the running engine: bootstrapped with `crgate train`, consulted by the ingest, and
 * learning from what happens — a confirmed sender's held mail becomes ham for that recipient, mail
 * discarded as sure spam becomes (lighter) spam, held mail whose challenge expired unanswered becomes
 * (lighter still) spam. Training data are real messages from the shared corpus.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_MESSAGE_BYTES } from '@crgate/classifier';
import { silentLogger } from '@crgate/core';
import { addUser, findUserByAddress } from '@crgate/store';
import { trainFromExpiredChallenges } from '@crgate/worker';
import { REMOTE_CLIENT, createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { runCli } from './helpers/engine-process.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { waitFor, type Sink } from './helpers/sinks.js';

const CORPUS = fileURLToPath(new URL('../../shared/corpus/', import.meta.url));
const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');

/** The first `n` messages of a corpus folder, copied into a new folder. */
function sample(folder: string, n: number): string {
  const dir = mkdtempSync(join(tmpdir(), `crgate-${folder}-`));
  for (const f of readdirSync(CORPUS + folder).sort().slice(0, n)) copyFileSync(join(CORPUS, folder, f), join(dir, f));
  return dir;
}

describe('classifier learning in the engine', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let hamDir: string;
  let spamDir: string;

  /** How the message with this Message-ID was trained into the scope: [{ label, weight }] or []. */
  const trainingOf = async (scope: number, messageId: string) =>
    (
      await t.db.query(
        `SELECT label, weight FROM classifier_trained WHERE scope = $1 AND message_key = (SELECT sha256 FROM messages WHERE message_id_header = $2)`,
        [scope, messageId],
      )
    ).rows;

  const totals = async (scope: number) =>
    (await t.db.query(`SELECT nham, nspam FROM classifier_totals WHERE scope = $1`, [scope])).rows[0] ?? { nham: 0, nspam: 0 };

  beforeAll(async () => {
    t = await createMailTestEnvironment();
    ({ lmtpSink, smtpSink } = t);
    hamDir = sample('ham', 60);
    spamDir = sample('spam', 60);
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  it('bootstraps the global model with crgate train', async () => {
    const r = await runCli(['train', '--ham', hamDir, '--spam', spamDir], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('trained 60 ham and 60 spam into the global model\n');
    expect(await totals(0)).toEqual({ nham: 60, nspam: 60 });
  });

  it('does not count a message twice when training again', async () => {
    const before = (await t.db.query(`SELECT sum(ham) AS h, sum(spam) AS s FROM classifier_tokens WHERE scope = 0`)).rows[0];
    const again = await runCli(['train', '--ham', hamDir, '--spam', spamDir], t.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('trained 60 ham and 60 spam into the global model (120 of them already trained with that label: unchanged)\n');
    expect(await totals(0)).toEqual({ nham: 60, nspam: 60 });
    expect((await t.db.query(`SELECT sum(ham) AS h, sum(spam) AS s FROM classifier_tokens WHERE scope = 0`)).rows[0]).toEqual(before);
  });

  it('moves a message trained as ham when it is trained as spam', async () => {
    const moved = mkdtempSync(join(tmpdir(), 'crgate-moved-'));
    const first = readdirSync(hamDir).sort()[0]!;
    copyFileSync(join(hamDir, first), join(moved, first));
    expect((await runCli(['train', '--spam', moved], t.env)).code).toBe(0);
    expect(await totals(0)).toEqual({ nham: 59, nspam: 61 });
    expect((await runCli(['train', '--ham', moved], t.env)).code).toBe(0);
    expect(await totals(0)).toEqual({ nham: 60, nspam: 60 });
  });

  it("learns ham for the recipient when a challenged sender confirms", async () => {
    engine = await startInProcess(t.env);
    await addUser(engine.db, 'alice@example.test');
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    const r = await pythonLmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], FIXTURE, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    const { rows } = await t.db.query(`SELECT decision, reasons FROM message_recipients ORDER BY id DESC LIMIT 1`);
    expect(rows[0].reasons.map((x: { symbol: string }) => x.symbol)).toContain('CONTENT_UNSURE');
    expect(rows[0].decision).toBe('challenge');
    await waitFor(() => smtpSink.messages.length === 1, 'the challenge');
    const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(smtpSink.messages[0]!.raw.toString())![0];
    expect((await fetch(link, { method: 'POST' })).status).toBe(200);
    await waitFor(async () => Number((await totals(alice.id)).nham) === 1, "alice's model to learn the confirmed mail");
    expect(await totals(alice.id)).toEqual({ nham: 1, nspam: 0 });
  });

  it('learns spam, weighted lower, from mail it discards as sure spam', async () => {
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    // A message the model was trained on as spam is surely spam to it.
    const spam = readFileSync(join(spamDir, readdirSync(spamDir).sort()[1]!), 'latin1').replace(/^From [^\n]*\n/, '');
    const r = await pythonLmtpSend(t.lmtpPort, 'spammer@remote.test', ['alice@example.test'], spam, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    const { rows } = await t.db.query(`SELECT decision, reasons FROM message_recipients ORDER BY id DESC LIMIT 1`);
    expect(rows[0].decision).toBe('discard');
    expect(rows[0].reasons.map((x: { symbol: string }) => x.symbol)).toContain('CONTENT_SPAM');
    await waitFor(async () => Number((await totals(alice.id)).nspam) > 0, "alice's model to learn the discarded spam");
    expect(await totals(alice.id)).toEqual({ nham: 1, nspam: 0.5 });
  });

  it('learns weak spam from held mail whose challenge expired unconfirmed', async () => {
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    // The sweep reads only the head of each body, as much as the tokenizer reads: words past 256 KB
    // do not reach the model (message-partitions.test.ts checks the head itself).
    const late = 'zzlateword';
    // A sender and words the model has not met: unsure, so challenged.
    t.dns.records['garden.test'] = { MX: [{ exchange: 'mx.garden.test', priority: 10 }], TXT: [`v=spf1 ip4:${REMOTE_CLIENT.addr} -all`] };
    const message =
      'From: Carol Green <carol@garden.test>\r\nTo: Alice <alice@example.test>\r\nSubject: Quarterly figures\r\n' +
      'Date: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <expiring-1@garden.test>\r\n\r\n' +
      'Hedgerow pruning rota, compost bins, seedling swap, allotment plots.\r\n' +
      `${'x'.repeat(78)}\r\n`.repeat(Math.ceil(MAX_MESSAGE_BYTES / 80)) +
      `${late}\r\n`;
    const r = await pythonLmtpSend(t.lmtpPort, 'carol@garden.test', ['alice@example.test'], message, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    const { rows } = await t.db.query(`SELECT decision FROM message_recipients ORDER BY id DESC LIMIT 1`);
    expect(rows[0].decision).toBe('challenge');
    const before = await totals(alice.id);
    expect(await trainFromExpiredChallenges(t.db, new Date(Date.now() + 60 * 86_400_000), silentLogger)).toBe(1);
    expect(await totals(alice.id)).toEqual({ nham: before.nham, nspam: before.nspam + 0.25 });
    const learned = await t.db.query(
      `SELECT label, weight FROM classifier_trained WHERE scope = $1 AND message_key = (SELECT sha256 FROM messages WHERE message_id_header = '<expiring-1@garden.test>')`,
      [alice.id],
    );
    expect(learned.rows[0]).toMatchObject({ label: 'spam' });
    expect(Number(learned.rows[0].weight)).toBe(0.25);
    const lateToken = await t.db.query(`SELECT 1 FROM classifier_tokens WHERE scope = $1 AND token = $2`, [alice.id, late]);
    expect(lateToken.rows).toHaveLength(0);
    const subjectToken = await t.db.query(`SELECT spam FROM classifier_tokens WHERE scope = $1 AND token = 'subject:Quarterly'`, [alice.id]);
    expect(Number(subjectToken.rows[0]?.spam)).toBe(0.25);
  });

  it('learns from every expired challenge, not only the first page of them', async () => {
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    t.dns.records['orchard.test'] = { MX: [{ exchange: 'mx.orchard.test', priority: 10 }], TXT: [`v=spf1 ip4:${REMOTE_CLIENT.addr} -all`] };
    const words = ['Pear grafting, quince rootstock, medlar', 'Cider press rota, damson jam, greengage', 'Walnut husks, hazel coppice, cobnut'];
    for (const [i, text] of words.entries()) {
      const from = `grower${i}@orchard.test`;
      const message = `From: ${from}\r\nTo: alice@example.test\r\nSubject: Orchard ${i}\r\nMessage-ID: <orchard-${i}@orchard.test>\r\n\r\n${text}.\r\n`;
      const r = await pythonLmtpSend(t.lmtpPort, from, ['alice@example.test'], message, { xforward: REMOTE_CLIENT });
      expect(r.data?.[0]?.[1]).toBe(250);
    }
    const { rows } = await t.db.query(`SELECT decision FROM message_recipients WHERE sender LIKE 'grower%@orchard.test'`);
    expect(rows).toEqual(words.map(() => ({ decision: 'challenge' })));
    // Two a page: the three new copies (and the one of the test before) take two pages and more.
    const trained = await trainFromExpiredChallenges(t.db, new Date(Date.now() + 60 * 86_400_000), silentLogger, 2);
    expect(trained).toBe(words.length + 1);
    const learned = await t.db.query(
      `SELECT count(*)::int AS n FROM classifier_trained WHERE scope = $1 AND label = 'spam'
          AND message_key IN (SELECT sha256 FROM messages WHERE message_id_header LIKE '<orchard-%@orchard.test>')`,
      [alice.id],
    );
    expect(learned.rows[0].n).toBe(words.length);
  });

  it('learns weak spam from held mail whose expired challenge the ingest closes when its sender writes again', async () => {
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    t.dns.records['vineyard.test'] = { MX: [{ exchange: 'mx.vineyard.test', priority: 10 }], TXT: [`v=spf1 ip4:${REMOTE_CLIENT.addr} -all`] };
    const send = async (n: number) => {
      const message = `From: Victor Vintner <vintner@vineyard.test>\r\nTo: Alice <alice@example.test>\r\nSubject: Harvest ${n}\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <harvest-${n}@vineyard.test>\r\n\r\nPressing rota, barrel cooperage, cellar temperature ${n}.\r\n`;
      const r = await pythonLmtpSend(t.lmtpPort, 'vintner@vineyard.test', ['alice@example.test'], message, { xforward: REMOTE_CLIENT });
      expect(r.data?.[0]?.[1]).toBe(250);
    };
    await send(1);
    const firstStatus = async () => (await t.db.query(`SELECT status FROM challenges WHERE sender = 'vintner@vineyard.test'`)).rows[0]?.status;
    await waitFor(async () => (await firstStatus()) === 'sent', 'the challenge sent');
    // Two weeks pass without an answer, and before the hourly sweep runs, the sender writes again.
    await t.db.query(`UPDATE challenges SET expires_at = now() - interval '1 minute' WHERE sender = 'vintner@vineyard.test'`);
    await send(2);
    const { rows } = await t.db.query(`SELECT status FROM challenges WHERE sender = 'vintner@vineyard.test' ORDER BY created_at LIMIT 1`);
    expect(rows).toEqual([{ status: 'expired' }]);
    await waitFor(async () => (await trainingOf(alice.id, '<harvest-1@vineyard.test>')).length === 1, 'the held copy of the expired challenge learned');
    expect(await trainingOf(alice.id, '<harvest-1@vineyard.test>')).toEqual([{ label: 'spam', weight: 0.25 }]);
  });

  it('learns from mail carrying a header value too long for the token index', async () => {
    const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!;
    t.dns.records['meadow.test'] = { MX: [{ exchange: 'mx.meadow.test', priority: 10 }], TXT: [`v=spf1 ip4:${REMOTE_CLIENT.addr} -all`] };
    // No long line: the attachment's Content-Type is folded over 3,000 bytes, and PostgreSQL cannot
    // index a token row over about 2,700. Random, so PostgreSQL cannot compress it under the limit.
    const folded = randomBytes(1600).toString('hex').match(/.{1,70}/g)!.join('\r\n ');
    const message =
      'From: Dora Meadows <dora@meadow.test>\r\nTo: Alice <alice@example.test>\r\nSubject: Hay meadow survey\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\nMessage-ID: <meadow-1@meadow.test>\r\n' +
      'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSurvey attached.\r\n' +
      `--B\r\nContent-Type: application/${folded}\r\nContent-Disposition: attachment; filename=survey.bin\r\n\r\nAAAA\r\n--B--\r\n`;
    const r = await pythonLmtpSend(t.lmtpPort, 'dora@meadow.test', ['alice@example.test'], message, { xforward: REMOTE_CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    const { rows } = await t.db.query(`SELECT decision FROM message_recipients ORDER BY id DESC LIMIT 1`);
    expect(rows[0].decision).toBe('discard');
    // Learned in the ingest's batch, with whatever else that batch holds.
    await waitFor(async () => (await trainingOf(alice.id, '<meadow-1@meadow.test>')).length === 1, 'the discarded message learned');
    expect(await trainingOf(alice.id, '<meadow-1@meadow.test>')).toEqual([{ label: 'spam', weight: 0.5 }]);
    const longest = await t.db.query(`SELECT max(length(token))::int AS n FROM classifier_tokens WHERE scope = $1`, [alice.id]);
    expect(longest.rows[0].n).toBeLessThanOrEqual(201);
  });
});
