/**
 * Work the state says is due but whose job BullMQ holds as failed: the job's last retry failed, and
 * recording that (suppressing the challenge) failed too, e.g. PostgreSQL was away at that moment. The
 * stranded-work recovery puts it back in the outbox, and the relay must run the failed job again; adding
 * a job under an id BullMQ still holds is silently ignored. The same for a job BullMQ holds as completed
 * from before PostgreSQL was restored from a dump (Redis kept): the work the database says is due runs.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { addUser, applyQuarantineAction, findUserByAddress, redisKeys } from '@crgate/store';
import { createMailTestEnvironment, REDIS_URL, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor } from './helpers/sinks.js';

/**
 * A challenge from `sender` decided by the ingest alone, whose job BullMQ then finished (`failed` or
 * `completed`) without PostgreSQL hearing of it: the outbox row is gone, the challenge still `queued`,
 * and old enough for the stranded-work recovery. Then the worker starts, and the challenge must be sent.
 */
async function expectSentAfterFinishedJob(t: MailTestEnvironment, redis: Redis, sender: string, finished: 'failed' | 'completed'): Promise<void> {
  const ingest = await startInProcess(t.env, ['ingest']);
  await addUser(ingest.db, 'alice@example.test');
  const raw = `From: ${sender}\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <${finished}-1@test>\r\n\r\nHi.\r\n`;
  expect((await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw))[0]!.code).toBe(250);
  await ingest.stop();
  const { rows } = await t.db.query(`SELECT job_id, job_name, payload FROM outbox`);
  expect(rows).toHaveLength(1);
  const [{ job_id: jobId, job_name: jobName, payload }] = rows;

  const prefix = redisKeys(t.redisPrefix).bullPrefix;
  const queue = new Queue('challenges', { connection: redis, prefix });
  await queue.add(jobName, payload, { jobId, attempts: 1, removeOnComplete: false });
  const ran = new Worker(
    'challenges',
    async () => {
      if (finished === 'failed') throw new Error('relay refused');
      return 'sent before the dump was restored';
    },
    { connection: redis, prefix },
  );
  await waitFor(async () => (await queue.getJob(jobId))?.[finished === 'failed' ? 'isFailed' : 'isCompleted']() ?? false, `the job to be ${finished}`);
  await ran.close();
  await queue.close();
  await t.db.query(`DELETE FROM outbox`);
  await t.db.query(`UPDATE challenges SET created_at = created_at - interval '1 hour'`);

  // The worker starts: the recovery finds the challenge due and the finished job runs again.
  const worker = await startInProcess(t.env, ['worker']);
  try {
    await waitFor(() => t.smtpSink.messages.length >= 1, 'the challenge to be sent', 30_000);
    // The relay's 250 comes before the worker records the challenge as sent.
    await waitFor(async () => (await t.db.query(`SELECT status FROM challenges`)).rows[0]?.status === 'sent', 'the challenge recorded as sent');
    await sleep(1000);
    expect(t.smtpSink.messages).toHaveLength(1);
    expect(t.smtpSink.messages[0]!.rcptTo).toEqual([sender]);
    expect((await t.db.query(`SELECT status FROM challenges`)).rows).toEqual([{ status: 'sent' }]);
  } finally {
    await worker.stop();
  }
}

describe('a challenge whose job BullMQ finished while PostgreSQL says it is still queued', () => {
  let t: MailTestEnvironment;
  let redis: Redis;

  beforeEach(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  });

  afterEach(async () => {
    redis?.disconnect();
    await t?.cleanup();
  });

  it('is sent once the worker starts again after its job failed without the failure being recorded', async () => {
    // What a worker that ran out of retries leaves behind when it cannot record the failure.
    await expectSentAfterFinishedJob(t, redis, 'bob@stranded.test', 'failed');
  });

  it('is sent once the worker starts (PostgreSQL restored from a dump taken before it was sent, Redis kept)', async () => {
    // Redis still holds the job as done (it ran after the dump); the restored rows say 'queued'.
    await expectSentAfterFinishedJob(t, redis, 'bob@restored.test', 'completed');
  });
});

describe('a release whose copy row id BullMQ already knows from before PostgreSQL was restored', () => {
  let t: MailTestEnvironment;

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
  });

  afterAll(async () => {
    await t?.cleanup();
  });

  it('is delivered: the old completed job of that id runs again', async () => {
    const engine = await startInProcess(t.env, ['ingest', 'worker']);
    try {
      await addUser(engine.db, 'alice@example.test');
      const alice = (await findUserByAddress(engine.db, 'alice@example.test'))!.id;
      const raw = `From: bob@restored.test\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <reused-1@test>\r\n\r\nHi.\r\n`;
      expect((await lmtpSend(t.lmtpPort, 'bob@restored.test', ['alice@example.test'], raw))[0]!.code).toBe(250);
      const [{ id }] = (await t.db.query<{ id: number }>(`SELECT id FROM message_recipients`)).rows;
      await applyQuarantineAction(engine.db, alice, [id!], 'release');
      await waitFor(() => t.lmtpSink.messages.length === 1, 'the first release delivered');
      await waitFor(async () => (await t.db.query(`SELECT status FROM message_recipients`)).rows[0].status === 'released', 'the copy marked released');

      // The restored database has a held copy under that row id again (new mail, or the same mail as the
      // dump had it); Redis still holds deliver-<id> as completed.
      await t.db.query(`UPDATE message_recipients SET status = 'held', released_at = NULL WHERE id = $1`, [id]);
      await applyQuarantineAction(engine.db, alice, [id!], 'release');
      await waitFor(() => t.lmtpSink.messages.length === 2, 'the second release delivered', 20_000);
      await waitFor(async () => (await t.db.query(`SELECT status FROM message_recipients`)).rows[0].status === 'released', 'the copy marked released again');
    } finally {
      await engine.stop();
    }
  });
});

describe('a release made again while BullMQ is still recording the refusal of the first', () => {
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

  it('is delivered at once: the old failed job was added before the new release, though it finished after it', async () => {
    const ingest = await startInProcess(t.env, ['ingest']);
    await addUser(ingest.db, 'alice@example.test');
    const alice = (await findUserByAddress(ingest.db, 'alice@example.test'))!.id;
    const raw = `From: bob@quick.test\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <quick-1@test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, 'bob@quick.test', ['alice@example.test'], raw))[0]!.code).toBe(250);
    const [{ id }] = (await t.db.query<{ id: number }>(`SELECT id FROM message_recipients`)).rows;
    await t.db.query(`DELETE FROM outbox`);

    // The first release: its job runs and downstream refuses it. The copy is held again (the worker
    // does that inside the job), and only then does BullMQ record the job as failed.
    await applyQuarantineAction(ingest.db, alice, [id!], 'release');
    const [{ job_id: jobId, job_name: jobName, payload }] = (await t.db.query(`SELECT job_id, job_name, payload FROM outbox WHERE job_name = 'message.deliver'`)).rows;
    await t.db.query(`DELETE FROM outbox`);
    const prefix = redisKeys(t.redisPrefix).bullPrefix;
    const queue = new Queue('deliveries', { connection: redis, prefix });
    await queue.add(jobName, payload, { jobId, attempts: 1 });
    const refused = new Worker(
      'deliveries',
      async () => {
        await t.db.query(`UPDATE message_recipients SET status = 'held' WHERE id = $1`, [id]);
        await sleep(50); // the time between the two, which a loaded machine makes longer
        throw new Error('downstream refused: 552 over quota');
      },
      { connection: redis, prefix },
    );
    await waitFor(async () => (await queue.getJob(jobId))?.isFailed() ?? false, 'the first release to fail');
    await refused.close();
    const job = (await queue.getJob(jobId))!;
    await queue.close();

    // The recipient released it again between the two: the new row was written after the job was
    // added and before its failure was recorded.
    await applyQuarantineAction(ingest.db, alice, [id!], 'release');
    const between = new Date(Math.floor((job.timestamp + job.finishedOn!) / 2));
    expect(between.getTime()).toBeGreaterThan(job.timestamp);
    await t.db.query(`UPDATE outbox SET created_at = $1 WHERE job_name = 'message.deliver'`, [between]);
    await ingest.stop();

    const worker = await startInProcess(t.env, ['worker']);
    try {
      await waitFor(() => t.lmtpSink.messages.length === 1, 'the second release delivered', 20_000);
      await waitFor(async () => (await t.db.query(`SELECT status FROM message_recipients`)).rows[0].status === 'released', 'the copy marked released');
    } finally {
      await worker.stop();
    }
  });
});
