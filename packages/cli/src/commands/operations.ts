/** `crgate queue` and `crgate stats`: what the queues hold and what crgate decided. */
import type { Command } from 'commander';
import { Queue, type Job } from 'bullmq';
import {
  connectRedis,
  decisionStats,
  getChallenge,
  getRecipientCopy,
  outboxDepth,
  QUEUES,
  redisKeys,
  requeueUndeliverableChallenge,
  type Db,
  type JobPayloads,
} from '@crgate/store';
import { configOrExit } from '../load-config.js';
import { EXIT, fail, seconds, withDb } from '../cli-helpers.js';

/** A date, or a date and time (a time without an offset is local time), as ISO 8601 writes them. */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/i;

/**
 * `90m`, `24h`, `7d` or an ISO date (`2026-01-31`, `2026-01-31T08:00Z`); exits 64 on anything else.
 * Not `new Date()` on any string: it reads `12` as December 2001.
 */
export function parseSince(value: string, now = new Date()): Date {
  const v = value.trim();
  const m = /^(\d+)\s*([mhd])$/.exec(v);
  if (m) {
    const d = new Date(now.getTime() - Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd']);
    if (Number.isNaN(d.getTime())) fail(`--since: "${value}" is too long a period`, EXIT.usage);
    return d;
  }
  const iso = ISO_DATE.exec(v);
  const d = new Date(v);
  // Date reads 2026-02-30 as March 2: the day must exist in its month.
  const dayExists = (y: number, m: number, day: number) => new Date(Date.UTC(y, m - 1, day)).getUTCDate() === day;
  if (!iso || Number.isNaN(d.getTime()) || !dayExists(Number(iso[1]), Number(iso[2]), Number(iso[3]))) {
    fail(`--since: "${value}" is neither a period (90m, 24h, 7d) nor an ISO date (2026-01-31, 2026-01-31T08:00Z)`, EXIT.usage);
  }
  return d;
}

/** How long the queue commands wait for Redis to answer before they give up (exit 69). */
const REDIS_CONNECT_MS = 8_000;

async function withQueues<T>(fn: (queues: Queue[]) => Promise<T>): Promise<T> {
  const config = configOrExit();
  // sentinelRetryStrategy: ioredis asks unreachable Sentinels again for ever by default, and connect()
  // never settles; a command should rather say so. The timer bounds any other way of not answering.
  const connection = connectRedis(config, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, sentinelRetryStrategy: () => null });
  connection.on('error', () => undefined);
  const where = config.redisSentinels.length > 0 ? 'through the Sentinels (CRGATE_REDIS_SENTINELS)' : 'at REDIS_URL';
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      connection.connect(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_CONNECT_MS / 1000} s`)), REDIS_CONNECT_MS);
      }),
    ]);
  } catch (err) {
    fail(`cannot reach Redis ${where}: ${(err as Error).message}`, EXIT.unavailable);
  } finally {
    clearTimeout(timer);
  }
  const queues = Object.values(QUEUES).map((name) => new Queue(name, { connection, prefix: redisKeys(config.redisPrefix).bullPrefix }));
  try {
    return await fn(queues);
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
  }
}

/** Whether `queue retry` runs a failed job again, and if not, why (one line of its report). */
type Verdict = { retry: true; requeued?: boolean } | { retry: false; why: string };

/**
 * A job that ran out of retries has already marked its row (worker.ts giveUp), and run again it would
 * find nothing to do: a challenge given up as undeliverable is put back in the queue first; a release
 * whose copy went back to the quarantine is the recipient's to release again.
 */
async function retryVerdict(db: Db, job: Job): Promise<Verdict> {
  if (job.name === 'challenge.send') {
    const id = (job.data as JobPayloads['challenge.send']).challengeId;
    const challenge = await getChallenge(db, id);
    if (!challenge) return { retry: false, why: 'challenge(s) no longer exist' };
    if (challenge.status === 'queued') return { retry: true };
    const r = await requeueUndeliverableChallenge(db, id, new Date());
    if (r.outcome === 'queued') return { retry: true, requeued: true };
    if (r.outcome === 'expired') return { retry: false, why: 'challenge(s) given up as undeliverable whose link has expired since; their mail stays in the quarantine' };
    if (r.outcome === 'superseded') return { retry: false, why: 'challenge(s) given up as undeliverable: a newer challenge to the same sender is pending' };
    return { retry: false, why: `challenge(s) no longer waiting to be sent: ${r.status ?? 'gone'}${r.reason ? ` (${r.reason})` : ''}` };
  }
  if (job.name === 'message.deliver') {
    const copy = await getRecipientCopy(db, (job.data as JobPayloads['message.deliver']).recipientId, { withoutBody: true });
    if (!copy) return { retry: false, why: 'release(s) whose copy no longer exists' };
    if (copy.status === 'releasing') return { retry: true };
    if (copy.status === 'held') {
      return { retry: false, why: 'release(s) went back to the quarantine (RELEASE_FAILED); the recipient releases them again from the site' };
    }
    return { retry: false, why: `release(s) no longer due: the copy is ${copy.status}` };
  }
  return { retry: true };
}

const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

export function registerOperations(program: Command): void {
  const queue = program.command('queue').description('the job queues: status, retry failed jobs, wait for them to drain');
  queue
    .command('status')
    .description('jobs per queue and state, and rows waiting in the PostgreSQL outbox')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const outbox = await withDb((db) => outboxDepth(db));
      await withQueues(async (queues) => {
        const counts: Record<string, Record<string, number>> = {};
        for (const q of queues) counts[q.name] = await q.getJobCounts(...STATES);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ outbox, queues: counts })}\n`);
          return;
        }
        process.stdout.write(`${'queue'.padEnd(12)}${STATES.map((s) => s.padStart(11)).join('')}\n`);
        for (const [name, c] of Object.entries(counts)) process.stdout.write(`${name.padEnd(12)}${STATES.map((s) => String(c[s] ?? 0).padStart(11)).join('')}\n`);
        process.stdout.write(`outbox rows not yet in the queues: ${outbox}\n`);
      });
    });
  queue
    .command('retry')
    .description('run failed jobs again, with fresh attempts, where their work is still due (all queues, or one)')
    .option('--queue <name>', `one of ${Object.values(QUEUES).join(', ')}`)
    .action(async (opts: { queue?: string }) => {
      if (opts.queue && !(Object.values(QUEUES) as string[]).includes(opts.queue)) fail(`unknown queue "${opts.queue}"`, EXIT.usage);
      await withDb((db) =>
        withQueues(async (queues) => {
          let retried = 0;
          let requeued = 0;
          const skipped = new Map<string, number>();
          for (const q of queues) {
            if (opts.queue && q.name !== opts.queue) continue;
            for (const job of await q.getFailed(0, -1)) {
              const verdict = await retryVerdict(db, job);
              if (!verdict.retry) {
                skipped.set(verdict.why, (skipped.get(verdict.why) ?? 0) + 1);
                continue;
              }
              if (verdict.requeued) requeued++;
              // Fresh attempts: a job that ran out of them would otherwise fail again at its next error.
              await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
              retried++;
            }
          }
          process.stdout.write(`retried ${retried} failed job(s)\n`);
          if (requeued) process.stdout.write(`${requeued} challenge(s) given up as undeliverable are queued again\n`);
          for (const [why, n] of skipped) process.stdout.write(`not retried: ${n} ${why}\n`);
        }),
      );
    });
  queue
    .command('drain')
    .description('wait until the outbox is empty and no job is waiting or running (e.g. before an upgrade)')
    .option('--timeout <seconds>', 'give up after this long (exit 1)', seconds, 300)
    .action(async (opts: { timeout: number }) => {
      const until = Date.now() + opts.timeout * 1000;
      const tty = Boolean(process.stdout.isTTY);
      await withQueues(async (queues) => {
        for (;;) {
          const outbox = await withDb((db) => outboxDepth(db));
          let pending = 0;
          for (const q of queues) {
            const c = await q.getJobCounts('waiting', 'active');
            pending += (c.waiting ?? 0) + (c.active ?? 0);
          }
          const line = `outbox ${outbox}, waiting or running ${pending}`;
          if (outbox === 0 && pending === 0) {
            process.stdout.write(`${tty ? '\r' : ''}drained: ${line}\n`);
            return;
          }
          if (Date.now() > until) fail(`not drained after ${opts.timeout}s: ${line}`);
          process.stdout.write(tty ? `\r${line}   ` : `${line}\n`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      });
    });

  program
    .command('stats')
    .description('counts per decision, reason and challenge outcome over a period')
    .option('--since <period>', 'a period (90m, 24h, 7d) or an ISO date (2026-01-31, 2026-01-31T08:00Z)', '24h')
    .option('--json', 'print JSON')
    .action(async (opts: { since: string; json?: boolean }) => {
      const since = parseSince(opts.since);
      await withDb(async (db) => {
        const s = await decisionStats(db, since);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...s, since: s.since.toISOString() })}\n`);
          return;
        }
        process.stdout.write(`since ${since.toISOString()}\n\ndecisions\n`);
        for (const [k, v] of Object.entries(s.decisions)) process.stdout.write(`  ${k.padEnd(28)}${String(v).padStart(8)}\n`);
        process.stdout.write('\nreasons\n');
        for (const [k, v] of Object.entries(s.reasons)) process.stdout.write(`  ${k.padEnd(28)}${String(v).padStart(8)}\n`);
        process.stdout.write('\nchallenges\n');
        for (const [k, v] of Object.entries(s.challenges)) process.stdout.write(`  ${k.padEnd(28)}${String(v).padStart(8)}\n`);
      });
    });
}
