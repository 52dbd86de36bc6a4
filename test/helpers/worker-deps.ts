/**
 * What a worker's job handlers need, built from an engine started in the test's process (usually the
 * ingest alone, so that no worker takes the jobs the test runs by hand). The caller closes
 * `deps.locks` and `deps.redis`.
 */
import { silentLogger, type Config } from '@crgate/core';
import { connectRedis, redisKeys, resolveSecret, SendLocks, type Db } from '@crgate/store';
import { loadChallengeTemplates, type ChallengeJobDeps } from '@crgate/worker';

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
