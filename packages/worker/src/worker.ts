/**
 * The worker role: relays the outbox into BullMQ and runs the jobs — challenges, deliveries of released
 * mail, and the expiry sweep. Jobs are retried with exponential backoff; a crash leaves them in Redis
 * (or still in the outbox) for the next run.
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Config, Logger } from '@crgate/core';
import { connectRedis, expireHistory, expireOld, markDeliveryFailed, prepareMonthPartitions, Metrics, QUEUES, redisKeys, requeueStranded, SendLocks, suppressChallenge, type Db, type JobPayloads, type QueueName } from '@crgate/store';
import { OutboxRelay } from './outbox-relay.js';
import { ProducerQueues } from './producer-queues.js';
import { ChallengeSuppressedError, sendChallenge } from './challenge-job.js';
import { deliverReleased } from './delivery-job.js';
import { loadChallengeTemplates, type ChallengeTemplates } from './challenge-template.js';
import { trainFromCopy, trainFromExpiredChallenges } from './learning-job.js';
import { sendDigests } from './digest-job.js';

export interface WorkerDeps {
  db: Db;
  logger: Logger;
  secret: string;
  now?: () => Date;
  metrics?: Metrics;
}

export interface WorkerRole {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** null when Redis answers; otherwise why the worker cannot work. */
  ready(): Promise<string | null>;
  queues: ProducerQueues;
}

const ATTEMPTS = { challenges: 12, deliveries: 25, maintenance: 3, learning: 5 } as const;
const EXPIRY_EVERY_MS = 3_600_000;

/**
 * How long running jobs may take to finish when the worker stops. A relay or downstream server may take
 * up to 5 minutes to answer (downstream.ts); a job still waiting past this is retried by the next worker.
 */
const WORKER_CLOSE_MS = 70_000;

/** Whether `p` settles within `ms` (its outcome is not awaited past that). */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true)),
    );
  });
}

export function createWorker(config: Config, deps: WorkerDeps): WorkerRole {
  const log = deps.logger.child({ component: 'worker' });
  const metrics = deps.metrics ?? new Metrics();
  const now = deps.now ?? (() => new Date());
  const keys = redisKeys(config.redisPrefix);
  const backoff = { type: 'exponential', delay: config.worker.retryDelayMs } as const;
  // Producers fail fast while Redis is away (the outbox keeps the job); workers wait for it to return.
  // A single server, a master behind Sentinel, or a Cluster, as configured (store/src/redis-connection.ts).
  const producerRedis = connectRedis(config, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  const workerRedis = connectRedis(config, { maxRetriesPerRequest: null });
  const counterRedis = connectRedis(config, { maxRetriesPerRequest: 2 });
  for (const r of [producerRedis, workerRedis, counterRedis]) r.on('error', () => undefined);

  function createQueue(name: QueueName): Queue {
    const queue = new Queue(name, {
      connection: producerRedis,
      prefix: keys.bullPrefix,
      defaultJobOptions: {
        attempts: ATTEMPTS[name],
        backoff,
        removeOnComplete: { age: 7 * 86_400, count: 10_000 },
        removeOnFail: { age: 30 * 86_400 },
      },
    });
    // Without a listener BullMQ prints every connection error of a Redis outage to stderr; the relay
    // already reports the outage (once a minute), so a queue's error only goes to the debug log.
    queue.on('error', (err) => log.debug({ event: 'worker.error', queue: name, err: err.message }, 'queue error'));
    return queue;
  }
  // Rebuilt when Redis went away while one was being set up (producer-queues.ts).
  const queues = new ProducerQueues(createQueue, log);
  const relay = new OutboxRelay(deps.db, queues, deps.logger.child({ component: 'outbox' }), {
    databaseUrl: config.databaseUrl,
    pollMs: config.worker.outboxPollMs,
  });
  const workers: Worker[] = [];
  const locks = new SendLocks(config.databaseUrl);

  async function process(job: Job): Promise<unknown> {
    const jobLog = log.child({ job: job.id, jobName: job.name, attempt: job.attemptsMade + 1 });
    switch (job.name as keyof JobPayloads) {
      case 'challenge.send': {
        const outcome = await sendChallenge((job.data as JobPayloads['challenge.send']).challengeId, {
          config,
          db: deps.db,
          redis: counterRedis,
          keys,
          secret: deps.secret,
          templates: await templateReady,
          logger: jobLog,
          now,
          locks,
        }).catch((err: unknown) => {
          // Refused by the relay, or impossible to compose: suppressed as surely as by a rate limit.
          if (err instanceof ChallengeSuppressedError) metrics.challenges.inc({ outcome: 'suppressed', reason: err.symbol });
          throw err;
        });
        if (outcome.result !== 'skipped') metrics.challenges.inc({ outcome: outcome.result, reason: outcome.reason ?? '' });
        return outcome.result;
      }
      case 'message.deliver': {
        const result = await deliverReleased((job.data as JobPayloads['message.deliver']).recipientId, { config, db: deps.db, logger: jobLog, locks });
        if (result === 'delivered') metrics.deliveries.inc({ kind: 'release', result: 'delivered' });
        return result;
      }
      case 'classifier.train':
        return config.classifier.enabled ? trainFromCopy(deps.db, job.data as JobPayloads['classifier.train'], jobLog) : 'disabled';
      case 'digest.send':
        return sendDigests(config, deps.db, deps.secret, now(), jobLog, locks);
      case 'expiry.sweep': {
        // One clock for the whole sweep: a challenge expiring between the learning and expireOld
        // would otherwise be marked expired without ever being learned from.
        const at = now();
        if (config.classifier.enabled) await trainFromExpiredChallenges(deps.db, at, jobLog);
        const requeued = await requeueStranded(deps.db);
        if (requeued) jobLog.warn({ event: 'worker.requeued', jobs: requeued }, `queued ${requeued} stranded job(s) again (lost Redis data?)`);
        const result = await expireOld(deps.db, at);
        metrics.challenges.inc({ outcome: 'expired', reason: '' }, result.expiredChallenges);
        jobLog.info({ event: 'expiry.swept', ...result }, 'expiry sweep done');
        // Month partitions of the stored messages: the next ones before mail needs them, the old ones
        // dropped once past the history retention (a month with a copy still open is kept).
        const created = await prepareMonthPartitions(deps.db, at);
        const history = await expireHistory(deps.db, at, config.retention.historyDays);
        if (created.length || history.droppedMonths.length || history.keptMonths.length || history.deletedCopies || history.deletedMessages) {
          jobLog.info({ event: 'expiry.partitions', createdMonths: created, ...history }, 'message partitions maintained');
        }
        return { ...result, createdMonths: created, ...history };
      }
      default:
        throw new Error(`unknown job ${job.name}`);
    }
  }

  /**
   * A job out of retries must not leave its work in limbo: a challenge that never went out would
   * otherwise keep covering the sender's later mail, and a release would look pending forever.
   */
  async function giveUp(job: Job, err: Error): Promise<void> {
    try {
      if (job.name === 'challenge.send') {
        await suppressChallenge(deps.db, (job.data as JobPayloads['challenge.send']).challengeId, {
          symbol: 'CHALLENGE_UNDELIVERABLE',
          weight: 0,
          detail: `the challenge could not be sent: ${err.message}`,
        });
        metrics.challenges.inc({ outcome: 'suppressed', reason: 'CHALLENGE_UNDELIVERABLE' });
      } else if (job.name === 'message.deliver') {
        await markDeliveryFailed(deps.db, (job.data as JobPayloads['message.deliver']).recipientId, `gave up: ${err.message}`);
      }
      log.error({ event: 'job.gave_up', job: job.id, jobName: job.name, err: err.message }, 'job out of retries');
    } catch (e) {
      log.error({ event: 'job.give_up_failed', job: job.id, err: (e as Error).message }, 'could not record a job that ran out of retries');
    }
  }

  let templateReady: Promise<ChallengeTemplates>;
  let stopping = false;
  let scheduling: Promise<void> | undefined;

  /** The hourly expiry and digest jobs, set up once Redis answers (retried every 5 s until then). */
  async function scheduleMaintenance(): Promise<void> {
    for (let attempt = 0; !stopping; attempt++) {
      // A queue of its own for each attempt: BullMQ keeps a queue, and the scheduler it makes, whose
      // setup Redis cut short failing for good, and upsertJobScheduler on such a queue would never
      // settle (its rejection goes unhandled, which ends the process). Waiting for the queue first
      // turns a failed setup into an error here, retried with a fresh queue.
      const maintenance = createQueue(QUEUES.maintenance);
      try {
        await maintenance.waitUntilReady();
        await maintenance.upsertJobScheduler('expiry', { every: EXPIRY_EVERY_MS }, { name: 'expiry.sweep', data: {} });
        // Hourly: each user's own daily or weekly period decides whether a digest is due.
        await maintenance.upsertJobScheduler('digest', { every: EXPIRY_EVERY_MS }, { name: 'digest.send', data: {} });
        if (attempt > 0) log.info({ event: 'worker.redis_back' }, 'Redis answers: maintenance jobs scheduled');
        return;
      } catch (err) {
        if (attempt === 0) log.warn({ event: 'worker.waiting_for_redis', err: (err as Error).message }, 'Redis does not answer; waiting for it');
        await new Promise((r) => setTimeout(r, 5_000).unref());
      } finally {
        await maintenance.close().catch(() => undefined);
      }
    }
  }

  metrics.onScrape(async () => {
    for (const name of queues.names()) {
      const counts = await queues.get(name)!.getJobCounts('waiting', 'active', 'delayed', 'failed');
      for (const [state, n] of Object.entries(counts)) metrics.queueJobs.set({ queue: name, state }, n);
    }
  });

  return {
    queues,
    ready: async () => ((await counterRedis.ping()) === 'PONG' ? null : 'Redis does not answer'),
    async start() {
      templateReady = loadChallengeTemplates(config);
      await templateReady;
      for (const name of Object.values(QUEUES)) {
        const worker = new Worker(name, process, {
          connection: workerRedis,
          prefix: keys.bullPrefix,
          concurrency: name === QUEUES.maintenance ? 1 : config.worker.concurrency,
          // A dead worker's jobs are taken over once their lock runs out (worker.stalledMs).
          lockDuration: config.worker.stalledMs,
          stalledInterval: config.worker.stalledMs,
          // BullMQ fails a job outright once it was active in a dying worker more than this many times,
          // without calling giveUp(), which would leave its challenge 'queued' for good. Every job is
          // idempotent (it checks its row before sending), so a job caught by several crashes is simply
          // run again, as many times as it may be retried.
          maxStalledCount: ATTEMPTS[name],
        });
        worker.on('failed', (job, err) => {
          // A 5xx from downstream throws UnrecoverableError (delivery-job.ts): BullMQ fails the job at
          // once, with attempts left, and the copy is already back in the quarantine. That is a
          // failure, not a retry: counted as one it would read as "Dovecot refuses or is unreachable".
          const final = !job || job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError;
          if (job?.name === 'message.deliver') metrics.deliveries.inc({ kind: 'release', result: final ? 'failed' : 'retry' });
          log.warn(
            { event: 'job.failed', queue: name, job: job?.id, attempts: job?.attemptsMade, retry: !final, err: err.message },
            `job failed${final ? '' : ', will retry'}: ${err.message}`,
          );
          if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) void giveUp(job, err);
        });
        // A Redis outage makes every queue's worker fail its reconnection several times a second: once a
        // minute per queue is enough to say so.
        let lastError = 0;
        worker.on('error', (err) => {
          if (Date.now() - lastError < 60_000) return;
          lastError = Date.now();
          log.warn({ event: 'worker.error', queue: name, err: err.message }, 'worker error');
        });
        workers.push(worker);
      }
      // In the background: with Redis away at start this would wait for it, and keep the other roles of
      // the process (and its health endpoint) from starting. The outbox keeps the work meanwhile.
      scheduling = scheduleMaintenance();
      // Work whose jobs a Redis data loss took is queued again now, not only at the next hourly sweep.
      const requeued = await requeueStranded(deps.db);
      if (requeued) log.warn({ event: 'worker.requeued', jobs: requeued }, `queued ${requeued} stranded job(s) again (lost Redis data?)`);
      await relay.start();
      log.info({ event: 'worker.started', queues: Object.values(QUEUES) }, 'worker started');
    },
    async stop() {
      stopping = true;
      await relay.stop();
      await settlesWithin(scheduling ?? Promise.resolve(), 5_000);
      // Running jobs may finish (most do within seconds; a slow server may take minutes); past that, or
      // while Redis is away and BullMQ cannot hand them back, the worker stops without them: each job
      // is retried by the next worker once its lock runs out.
      const closed = Promise.all(workers.map((w) => w.close()));
      if (!(await settlesWithin(closed, WORKER_CLOSE_MS))) {
        log.warn({ event: 'worker.close_timeout', ms: WORKER_CLOSE_MS }, 'jobs still running at stop: left to be retried');
        await settlesWithin(Promise.all(workers.map((w) => w.close(true))), 5_000);
      }
      await settlesWithin(queues.close(), 5_000);
      await locks.close();
      for (const r of [producerRedis, workerRedis, counterRedis]) r.disconnect();
      log.info({ event: 'worker.stopped' }, 'worker stopped');
    },
  };
}
