/**
 * The transactional outbox: jobs are written in the same transaction as the state they act on and a
 * relay later hands them to BullMQ. A crash or a Redis outage in between only delays them.
 */
import type { Db, Queryable } from './db.js';
import { withTransaction } from './db.js';
import { JOB_QUEUE, type JobName, type JobPayloads, type QueueName } from './queues.js';

export async function enqueueOutbox<N extends JobName>(db: Queryable, name: N, jobId: string, payload: JobPayloads[N]): Promise<void> {
  // A delivery is queued only when its copy has just become 'releasing': a job of the same id that
  // BullMQ still holds as finished from before is an earlier release refused downstream (failed: the
  // copy went back to held), or one of a copy of the same row id before PostgreSQL was restored
  // (completed), and must run again rather than make the relay's add a no-op.
  await db.query('INSERT INTO outbox (queue, job_name, job_id, payload, retry_failed) VALUES ($1, $2, $3, $4, $5)', [
    JOB_QUEUE[name],
    name,
    jobId,
    JSON.stringify(payload),
    name === 'message.deliver',
  ]);
}

export interface OutboxJob {
  id: number;
  queue: QueueName;
  jobName: JobName;
  jobId: string;
  payload: unknown;
  /**
   * A job of this id that BullMQ holds as finished (failed, or completed) before this row was written is
   * to be run again, not left alone: set by requeueStranded and for releases.
   */
  retryFailed: boolean;
  /** When the row was written (PostgreSQL's clock). */
  createdAt: Date;
}

/**
 * Claims up to `limit` outbox rows (skipping rows another relay holds), passes them to `publish`, and
 * deletes them only if `publish` succeeds. Returns how many were published.
 */
export async function drainOutbox(db: Db, limit: number, publish: (jobs: OutboxJob[]) => Promise<void>): Promise<number> {
  return withTransaction(db, async (tx) => {
    const { rows } = await tx.query(
      'SELECT id, queue, job_name, job_id, payload, retry_failed, created_at FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
      [limit],
    );
    if (rows.length === 0) return 0;
    await publish(
      rows.map((r) => ({ id: r.id, queue: r.queue, jobName: r.job_name, jobId: r.job_id, payload: r.payload, retryFailed: r.retry_failed, createdAt: r.created_at })),
    );
    await tx.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
    return rows.length;
  });
}

export async function outboxDepth(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
  return rows[0]!.n;
}

/**
 * After Redis lost its data, jobs that had already left the outbox are gone: challenges stay 'queued'
 * and released copies 'releasing' for good. The same happens when a job ran out of retries and
 * recording that (suppressing the challenge, marking the copy failed) failed too. This puts them back
 * in the outbox. Safe at any time: a job keeps its id (BullMQ ignores one it still holds waiting,
 * delayed or active; the relay retries one it holds as failed, see OutboxJob.retryFailed) and each job
 * checks the state before it acts, so nothing is sent or delivered twice. Only work older than
 * `olderThanMinutes` is touched, so jobs simply still in flight are left alone. Returns how many jobs
 * were queued again.
 */
export async function requeueStranded(db: Db, olderThanMinutes = 10): Promise<number> {
  // Two workers starting together (or sweeping in the same hour) each found no outbox row and each
  // inserted one: every stranded job twice. One at a time, the second finds the first one's rows.
  return withTransaction(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', ['crgate:requeue-stranded']);
    return requeueStrandedRows(tx, olderThanMinutes);
  });
}

async function requeueStrandedRows(db: Queryable, olderThanMinutes: number): Promise<number> {
  const challenges = await db.query(
    `INSERT INTO outbox (queue, job_name, job_id, payload, retry_failed)
     SELECT 'challenges', 'challenge.send', 'challenge-' || c.id, jsonb_build_object('challengeId', c.id::text), true
       FROM challenges c
      WHERE c.status = 'queued' AND c.created_at < now() - make_interval(mins => $1)
        AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.job_id = 'challenge-' || c.id)`,
    [olderThanMinutes],
  );
  const releases = await db.query(
    `INSERT INTO outbox (queue, job_name, job_id, payload, retry_failed)
     SELECT 'deliveries', 'message.deliver', 'deliver-' || r.id, jsonb_build_object('recipientId', r.id), true
       FROM message_recipients r
      WHERE r.status = 'releasing' AND COALESCE(r.released_at, r.created_at) < now() - make_interval(mins => $1)
        AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.job_id = 'deliver-' || r.id)`,
    [olderThanMinutes],
  );
  return (challenges.rowCount ?? 0) + (releases.rowCount ?? 0);
}
