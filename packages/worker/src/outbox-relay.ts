/**
 * Moves jobs from the PostgreSQL outbox into BullMQ. Woken by NOTIFY on every outbox insert and by a
 * slow poll as a safety net (a lost notification, or Redis coming back after an outage). Rows are
 * deleted only after BullMQ took them; a crash in between re-adds them under the same job id, which
 * BullMQ ignores while the job exists and the job handlers ignore once its work is done. Rows the
 * stranded-work recovery wrote (retry_failed) also retry a job BullMQ holds as failed.
 */
import pg from 'pg';
import type { Queue } from 'bullmq';
import type { Logger } from '@crgate/core';
import { drainOutbox, type Db, type OutboxJob, type QueueName } from '@crgate/store';

export interface OutboxRelayOptions {
  databaseUrl: string;
  pollMs?: number;
  batchSize?: number;
}

/**
 * How long stop() lets a drain in progress finish. Past that it gives up, as a crash would: a drain
 * waiting for Redis (away, or not answering) would otherwise hold the stop for ever, and its rows stay
 * in the outbox for the next start.
 */
const STOP_GRACE_MS = 5_000;

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private listener: pg.Client | undefined;
  /** The LISTEN connection being opened: one at a time, however slowly PostgreSQL accepts it. */
  private listening: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastErrorAt = 0;
  private giveUp: (err: Error) => void = () => undefined;
  /** Rejects when stop() gives up on the drain in progress. */
  private readonly givenUp = new Promise<never>((_resolve, reject) => (this.giveUp = reject));

  constructor(
    private readonly db: Db,
    /** The queue for each name, as it is to be used now (worker.ts rebuilds one Redis broke: producer-queues.ts). */
    private readonly queues: Pick<Map<QueueName, Queue>, 'get'>,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions,
  ) {
    this.givenUp.catch(() => undefined);
  }

  async start(): Promise<void> {
    await this.listenOnce();
    this.timer = setInterval(() => {
      if (!this.listener) void this.listenOnce();
      this.kick();
    }, this.options.pollMs ?? 1000);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const late = setTimeout(() => this.giveUp(new Error('stopped while Redis did not take the jobs; they stay in the outbox')), STOP_GRACE_MS);
    await this.running;
    clearTimeout(late);
    await this.listening;
    await this.listener?.end().catch(() => undefined);
  }

  private listenOnce(): Promise<void> {
    this.listening ??= this.listen().finally(() => {
      this.listening = undefined;
    });
    return this.listening;
  }

  /** Drains now (or right after the drain in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drainAll().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl, connectionTimeoutMillis: 5000 });
    client.on('error', () => {
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => undefined);
    });
    client.on('notification', () => this.kick());
    try {
      await client.connect();
      await client.query('LISTEN crgate_outbox');
      // Stopped while connecting: stop() may already have ended the previous listener.
      if (this.stopped) await client.end();
      else this.listener = client;
    } catch (err) {
      this.logger.warn({ event: 'outbox.listen_failed', err: (err as Error).message }, 'cannot LISTEN for outbox rows; polling');
      await client.end().catch(() => undefined);
    }
  }

  private async publish(jobs: OutboxJob[]): Promise<void> {
    const byQueue = new Map<QueueName, OutboxJob[]>();
    for (const job of jobs) byQueue.set(job.queue, [...(byQueue.get(job.queue) ?? []), job]);
    for (const [name, list] of byQueue) {
      const queue = this.queues.get(name);
      if (!queue) throw new Error(`outbox names unknown queue ${name}`);
      await queue.addBulk(list.map((j) => ({ name: j.jobName, data: j.payload, opts: { jobId: j.jobId } })));
      for (const j of list) if (j.retryFailed) await this.retryIfFinished(queue, j);
    }
  }

  /**
   * Recovered or repeated work whose job BullMQ still holds as finished: the add above was ignored, and
   * the state in PostgreSQL says the work is due, so the job runs again with fresh attempts. Failed: its
   * last retry failed and recording that failed too, or downstream refused a release that is now made
   * again. Completed: PostgreSQL was restored from a dump taken before the job ran, while Redis kept
   * the job (a copy row id reused after the restore gives a new release the id of an old one). Running
   * a completed job again is safe: the handlers check the state before they act. Only a job added
   * before the row was written: one that the add above added (or a relay that died before deleting the
   * row) is this very work. When it was added, not when it finished: a refused release holds its copy
   * again before BullMQ records the job as failed, and a release made again in between (a quick click)
   * wrote its row before the old job's finish; judged by the finish, it waited for the hourly recovery.
   * A job waiting, delayed or active is left alone.
   */
  private async retryIfFinished(queue: Queue, { jobId, createdAt }: OutboxJob): Promise<void> {
    const job = await queue.getJob(jobId);
    if (!job || !job.finishedOn || job.timestamp >= createdAt.getTime()) return;
    const state = await job.getState();
    if (state !== 'failed' && state !== 'completed') return;
    await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
    const message = `running ${state} job ${jobId} again: its work is still due`;
    if (state === 'failed') this.logger.warn({ event: 'outbox.retried_failed', queue: queue.name, job: jobId }, message);
    else this.logger.warn({ event: 'outbox.rerun_completed', queue: queue.name, job: jobId }, message);
  }

  private async drainAll(): Promise<void> {
    try {
      let moved: number;
      do {
        moved = await drainOutbox(this.db, this.options.batchSize ?? 200, (jobs) => Promise.race([this.publish(jobs), this.givenUp]));
        if (moved) this.logger.debug({ event: 'outbox.relayed', jobs: moved }, `relayed ${moved} jobs`);
      } while (moved > 0 && !this.stopped);
    } catch (err) {
      // PostgreSQL or Redis is away: the rows stay and the next poll retries. Log once a minute, not per poll.
      if (Date.now() - this.lastErrorAt > 60_000) {
        this.lastErrorAt = Date.now();
        this.logger.warn({ event: 'outbox.relay_failed', err: (err as Error).message }, 'outbox relay failed; will retry');
      }
    }
  }
}
