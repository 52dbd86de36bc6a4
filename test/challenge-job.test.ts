/**
 * The challenge job when it runs late or twice: a challenge whose link has already expired is not
 * sent (its mail stays in the quarantine with the reason), and one job run by two workers at once
 * (a worker that lost its lock while sending) sends one challenge, not two.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { addUser, connectRedis, redisKeys, resolveSecret, type RedisClient } from '@crgate/store';
import { loadChallengeTemplates, sendChallenge, type ChallengeJobDeps } from '@crgate/worker';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';

describe('the challenge job', () => {
  let t: MailTestEnvironment;
  let ingest: Awaited<ReturnType<typeof startInProcess>>;
  let redis: RedisClient;
  let deps: ChallengeJobDeps;
  let sent = 0;

  /** A message from `sender` to alice, held and challenged by the ingest (no worker runs: the job waits). */
  async function challenged(sender: string): Promise<string> {
    const raw = `From: ${sender}\r\nTo: alice@example.test\r\nSubject: hello ${++sent}\r\nMessage-ID: <job-${sent}@remote.test>\r\n\r\nHi.\r\n`;
    expect((await lmtpSend(t.lmtpPort, sender, ['alice@example.test'], raw))[0]!.code).toBe(250);
    const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM challenges WHERE sender = $1 AND status = 'queued'`, [sender]);
    expect(rows).toHaveLength(1);
    return rows[0]!.id;
  }

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    ingest = await startInProcess(t.env, ['ingest']);
    await addUser(ingest.db, 'alice@example.test');
    const config = ingest.config;
    redis = connectRedis(config, { maxRetriesPerRequest: 2 });
    deps = {
      config,
      db: ingest.db,
      redis,
      keys: redisKeys(config.redisPrefix),
      secret: await resolveSecret(ingest.db, config.secret, silentLogger),
      templates: await loadChallengeTemplates(config),
      logger: silentLogger,
      now: () => new Date(),
    };
  });

  afterAll(async () => {
    redis?.disconnect();
    await ingest?.stop();
    await t?.cleanup();
  });

  it('does not send a challenge whose link expired before the job ran, and says so on the held mail', async () => {
    const id = await challenged('late@remote.test');
    const later = new Date(Date.now() + (ingest.config.challenge.tokenTtlDays + 1) * 86_400_000);
    expect(await sendChallenge(id, { ...deps, now: () => later })).toEqual({ result: 'suppressed', reason: 'CHALLENGE_EXPIRED_UNSENT' });
    expect(t.smtpSink.messages.filter((m) => m.rcptTo.includes('late@remote.test'))).toEqual([]);
    const { rows } = await t.db.query(`SELECT decision, status, reasons FROM message_recipients WHERE sender = 'late@remote.test'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ decision: 'quarantine', status: 'held' });
    expect(rows[0].reasons.map((r: { symbol: string }) => r.symbol)).toContain('CHALLENGE_EXPIRED_UNSENT');
  });
});
