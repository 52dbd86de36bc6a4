/**
 * The transactional outbox: jobs are written in the same transaction as the state they act on and a
 * relay later hands them to BullMQ. A crash or a Redis outage in between only delays them.
 */
import type { Db, Queryable } from './db.js';
import { withTransaction } from './db.js';
import { JOB_QUEUE, type JobName, type JobPayloads, type QueueName } from './queues.js';

export async function enqueueOutbox<N extends JobName>(db: Queryable, name: N, jobId: string, payload: JobPayloads[N]): Promise<void> {
  await db.query('INSERT INTO outbox (queue, job_name, job_id, payload) VALUES ($1, $2, $3, $4)', [
    JOB_QUEUE[name],
    name,
    jobId,
    JSON.stringify(payload),
  ]);
}

export interface OutboxJob {
  id: number;
  queue: QueueName;
  jobName: JobName;
  jobId: string;
  payload: unknown;
}

/**
 * Claims up to `limit` outbox rows (skipping rows another relay holds), passes them to `publish`, and
 * deletes them only if `publish` succeeds. Returns how many were published.
 */
export async function drainOutbox(db: Db, limit: number, publish: (jobs: OutboxJob[]) => Promise<void>): Promise<number> {
  return withTransaction(db, async (tx) => {
    const { rows } = await tx.query(
      'SELECT id, queue, job_name, job_id, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
      [limit],
    );
    if (rows.length === 0) return 0;
    await publish(rows.map((r) => ({ id: r.id, queue: r.queue, jobName: r.job_name, jobId: r.job_id, payload: r.payload })));
    await tx.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
    return rows.length;
  });
}

export async function outboxDepth(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
  return rows[0]!.n;
}
