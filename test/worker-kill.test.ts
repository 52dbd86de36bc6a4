/**
 * kill -9 of the worker process (`crgate start --role worker`) while it sends hundreds of challenges
 * and delivers released mail; the ingest and the web site run in another process and stay up. The sinks
 * are counted by Message-ID: every challenge and every release arrives, none is lost.
 *
 * What "once" can mean: a send is recorded in PostgreSQL right after the relay's (or downstream's) 250,
 * and a retried job reads that record before sending. A kill landing between the 250 and that record
 * cannot be told from a send that never happened, so the send is repeated; SMTP offers no way to close
 * that window. The first test lands its kills while every send in flight is held at MAIL FROM (nothing
 * handed over yet) and asserts exactly once; the second kills at arbitrary moments and asserts nothing
 * lost and at most one repeat per send that was in flight at a kill.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { runCli, startEngineReady, type EngineProcess } from './helpers/engine-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor, type Sink } from './helpers/sinks.js';

const FIXTURE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8');
const CHALLENGES = 200;
const RELEASES = 60;
const CONCURRENCY = 4;
const KILLS = 3;

function messageIdOf(raw: Buffer): string {
  const m = /^Message-ID:\s*<?([^>\r\n]+)>?/im.exec(raw.toString('utf8'));
  if (!m) throw new Error('a sent message without Message-ID');
  return m[1]!.trim();
}

/** How many times each Message-ID arrived at the sink. */
function countById(sink: Sink): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of sink.messages) {
    const id = messageIdOf(m.raw);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('kill -9 of the worker while it sends challenges and releases', () => {
  let t: MailTestEnvironment;
  let lmtpSink: Sink;
  let smtpSink: Sink;
  let front: EngineProcess;
  let worker: EngineProcess | undefined;

  const startWorker = async () => {
    worker = await startEngineReady(t.env, ['--role', 'worker']);
  };

  /** Sends one uncertain message per sender through LMTP, ten connections at a time. */
  async function feed(senders: string[]): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < senders.length) {
          const sender = senders[next++]!;
          const raw = FIXTURE.replaceAll('bob@remote.test>', `${sender}>`).replace('<lunch-1@remote.test>', `<orig-${sender}>`);
          const [reply] = await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw);
          expect(reply!.code, sender).toBe(250);
        }
      }),
    );
  }

  /** Confirms the challenges sent to these senders through the web site: their mail is queued for release. */
  async function confirm(senders: string[]): Promise<void> {
    for (const sender of senders) {
      const challenge = smtpSink.messages.find((m) => m.rcptTo.includes(sender))!;
      const link = /https?:\/\/\S+\/c\/[A-Za-z0-9_-]{43}/.exec(challenge.raw.toString('utf8'))![0];
      const res = await fetch(link, { method: 'POST' });
      expect(res.status, sender).toBe(200);
    }
  }

  /** The challenges and releases the worker must carry out for these senders, by Message-ID. */
  async function expected(challenged: string[], released: string[]): Promise<{ challenges: string[]; releases: string[] }> {
    const { rows } = await t.db.query<{ id: string }>(`SELECT our_message_id AS id FROM challenges WHERE sender = ANY($1::text[])`, [challenged]);
    expect(rows).toHaveLength(challenged.length);
    return { challenges: rows.map((r) => r.id.replace(/^<|>$/g, '')), releases: released.map((s) => `orig-${s}`) };
  }

  async function allDone(challenged: string[], released: string[]): Promise<boolean> {
    const { rows } = await t.db.query<{ pending: number }>(
      `SELECT (SELECT count(*) FROM challenges WHERE sender = ANY($1::text[]) AND status = 'queued')
            + (SELECT count(*) FROM message_recipients WHERE sender = ANY($2::text[]) AND status = 'releasing') AS pending`,
      [challenged, released],
    );
    return Number(rows[0]!.pending) === 0;
  }

  let held: string[];
  beforeAll(async () => {
    t = await createMailTestEnvironment({
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
      CRGATE_CHALLENGE_GLOBAL_PER_HOUR: '100000',
      CRGATE_WORKER_CONCURRENCY: String(CONCURRENCY),
      // A killed worker's jobs are taken over within two of these, not the default minute.
      CRGATE_WORKER_STALLED_MS: '2000',
    });
    ({ lmtpSink, smtpSink } = t);
    expect((await runCli(['users', 'add', 'alice@example.test'], t.env)).code).toBe(0);
    front = await startEngineReady(t.env, ['--role', 'ingest,web']);
    // Senders whose challenges go out first (with a healthy worker) and are confirmed later, so that
    // each test has releases to carry out.
    held = Array.from({ length: 2 * RELEASES }, (_, i) => `held${i}@remote.test`);
    await startWorker();
    await feed(held);
    await waitFor(() => smtpSink.messages.length === held.length, 'the first challenges', 60_000);
    await worker!.kill('SIGTERM');
  }, 120_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await front?.kill('SIGKILL');
    await t?.cleanup();
  });

  /**
   * Queues CHALLENGES new challenges (senders `<prefix>N@remote.test`) and the release of `released`,
   * then starts the worker on them; `finish()` waits until all are done and counts both sinks by Message-ID.
   */
  async function stream(prefix: string, released: typeof held) {
    const challenged = Array.from({ length: CHALLENGES }, (_, i) => `${prefix}${i}@remote.test`);
    await confirm(released);
    await feed(challenged);
    const want = await expected(challenged, released);
    const total = () => smtpSink.messages.length + lmtpSink.messages.length;
    const start = total();
    await startWorker();
    const finish = async () => {
      await waitFor(() => allDone(challenged, released), 'every challenge and release done', 120_000);
      await sleep(1000);
      return { challenges: countById(smtpSink), releases: countById(lmtpSink) };
    };
    return { want, total, start, finish };
  }

  it('sends every challenge and delivers every release exactly once when kills land while no send is handed over', async () => {
    const { want, total, start, finish } = await stream('a', held.slice(0, RELEASES));
    for (let k = 1; k <= KILLS; k++) {
      await waitFor(() => total() - start >= (k * (CHALLENGES + RELEASES)) / (KILLS + 1), `send ${k} of the stream`, 60_000);
      // Every send in flight now waits at MAIL FROM; once the count stands still, none is between the
      // sink's 250 and the worker's record of it.
      smtpSink.pause();
      lmtpSink.pause();
      let last = -1;
      await waitFor(async () => {
        const now = total();
        const still = now === last;
        last = now;
        if (!still) await sleep(400);
        return still;
      }, 'the sends in flight to be held', 20_000);
      expect(smtpSink.held() + lmtpSink.held(), 'sends caught in flight').toBeGreaterThan(0);
      await worker!.kill('SIGKILL');
      smtpSink.resume();
      lmtpSink.resume();
      await startWorker();
    }

    const { challenges, releases } = await finish();
    expect(want.challenges.filter((id) => challenges.get(id) !== 1)).toEqual([]);
    expect(want.releases.filter((id) => releases.get(id) !== 1)).toEqual([]);
    expect(worker!.logs.filter((l) => l.event === 'job.gave_up')).toEqual([]);
  }, 300_000);

  it('loses no challenge or release when killed at arbitrary moments, and repeats at most the sends in flight at a kill', async () => {
    await worker!.kill('SIGTERM');
    const { want, total, start, finish } = await stream('b', held.slice(RELEASES));
    for (let k = 1; k <= KILLS; k++) {
      await waitFor(() => total() - start >= (k * (CHALLENGES + RELEASES)) / (KILLS + 1), `send ${k} of the stream`, 60_000);
      await worker!.kill('SIGKILL');
      await startWorker();
    }

    const { challenges, releases } = await finish();
    expect(want.challenges.filter((id) => !challenges.has(id)), 'challenges lost').toEqual([]);
    expect(want.releases.filter((id) => !releases.has(id)), 'releases lost').toEqual([]);
    const repeats = [...want.challenges.map((id) => challenges.get(id)!), ...want.releases.map((id) => releases.get(id)!)].reduce((n, c) => n + c - 1, 0);
    // At most one repeat per send in flight at a kill: two queues of CONCURRENCY jobs each.
    expect(repeats).toBeLessThanOrEqual(KILLS * 2 * CONCURRENCY);
    expect(worker!.logs.filter((l) => l.event === 'job.gave_up')).toEqual([]);
  }, 300_000);
});
