/**
 * Work the state says is due but whose job BullMQ holds as failed: the job's last retry failed, and
 * recording that (suppressing the challenge) failed too, e.g. PostgreSQL was away at that moment. The
 * stranded-work recovery puts it back in the outbox, and the relay must run the failed job again; adding
 * a job under an id BullMQ still holds is silently ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { addUser, redisKeys } from '@crgate/store';
import { createMailTestEnvironment, REDIS_URL, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor } from './helpers/sinks.js';

describe('a challenge whose job failed without the failure being recorded', () => {
  let t: MailTestEnvironment;
  let redis: Redis;

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    redis?.disconnect();
    await t?.cleanup();
  });

  it('is sent once the worker starts again', async () => {
    // The ingest alone: the challenge is decided and its job waits in the outbox.
    const ingest = await startInProcess(t.env, ['ingest']);
    await addUser(ingest.db, 'alice@example.test');
    const raw = `From: bob@stranded.test\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <stranded-1@test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, 'bob@stranded.test', ['alice@example.test'], raw))[0]!.code).toBe(250);
    await ingest.stop();
    const { rows } = await t.db.query(`SELECT job_id, job_name, payload FROM outbox`);
    expect(rows).toHaveLength(1);
    const [{ job_id: jobId, job_name: jobName, payload }] = rows;

    // What a worker that ran out of retries leaves behind when it cannot record the failure: the job
    // failed in BullMQ, the outbox row gone, the challenge still 'queued' (and old enough to recover).
    const prefix = redisKeys(t.redisPrefix).bullPrefix;
    const queue = new Queue('challenges', { connection: redis, prefix });
    await queue.add(jobName, payload, { jobId, attempts: 1 });
    const failing = new Worker('challenges', async () => { throw new Error('relay refused'); }, { connection: redis, prefix });
    await waitFor(async () => (await queue.getJob(jobId))?.isFailed() ?? false, 'the job to fail');
    await failing.close();
    await t.db.query(`DELETE FROM outbox`);
    await t.db.query(`UPDATE challenges SET created_at = created_at - interval '1 hour'`);
    await queue.close();

    // The worker starts: the recovery finds the challenge due and the failed job runs again.
    const worker = await startInProcess(t.env, ['worker']);
    try {
      await waitFor(() => t.smtpSink.messages.length >= 1, 'the challenge to be sent', 30_000);
      await sleep(1000);
      expect(t.smtpSink.messages).toHaveLength(1);
      expect(t.smtpSink.messages[0]!.rcptTo).toEqual(['bob@stranded.test']);
      expect((await t.db.query(`SELECT status FROM challenges`)).rows).toEqual([{ status: 'sent' }]);
    } finally {
      await worker.stop();
    }
  });
});
