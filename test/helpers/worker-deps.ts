/**
 * What a worker's job handlers need, built from an engine started in the test's process (usually the
 * ingest alone, so that no worker takes the jobs the test runs by hand). The caller closes
 * `deps.locks` and `deps.redis`.
 */
import { silentLogger, type Config } from '@crgate/core';
import { connectRedis, redisKeys, resolveSecret, SendLocks, type Db } from '@crgate/store';
import { loadChallengeTemplates, type ChallengeJobDeps } from '@crgate/worker';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { lmtpSend } from './lmtp-client.js';

export async function challengeJobDeps(engine: { db: Db; config: Config }): Promise<ChallengeJobDeps> {
  const { config, db } = engine;
  return {
    config,
    db,
    redis: connectRedis(config, { maxRetriesPerRequest: 2 }),
    keys: redisKeys(config.redisPrefix),
    secret: await resolveSecret(db, config.secret, silentLogger),
    templates: await loadChallengeTemplates(config),
    logger: silentLogger,
    now: () => new Date(),
    locks: new SendLocks(config.databaseUrl),
  };
}

/**
 * A message from `sender` to alice, held and challenged by the ingest listening on `t.lmtpPort`; the id
 * of its challenge, still queued (no worker runs: the job waits for the test to run it).
 */
export async function queuedChallenge(t: { lmtpPort: number; db: pg.Pool }, sender: string): Promise<string> {
  const raw = `From: ${sender}\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <${randomUUID()}@remote.test>\r\n\r\nHi.\r\n`;
  const [reply] = await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw);
  if (reply?.code !== 250) throw new Error(`the ingest answered ${reply?.code} ${reply?.message ?? ''} for ${sender}'s message`);
  const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM challenges WHERE sender = $1 AND status = 'queued'`, [sender]);
  if (rows.length !== 1) throw new Error(`expected one queued challenge to ${sender}, found ${rows.length}`);
  return rows[0]!.id;
}
