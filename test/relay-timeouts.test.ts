/**
 * The worker's outgoing side against servers that take their time: a relay that answers the end of the
 * data only after a minute and more (a slow content filter) has the challenge, and the worker waits for
 * its reply instead of giving up and sending the challenge a second time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '@crgate/core';
import { addUser, connectRedis, redisKeys, resolveSecret, SendLocks, type RedisClient } from '@crgate/store';
import { loadChallengeTemplates, sendChallenge, type ChallengeJobDeps } from '@crgate/worker';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';

/** An SMTP relay that keeps every message and answers the end of its data after `delayMs`. */
async function slowRelay(delayMs: number): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      // The relay has the message (queued, as Postfix has it once cleanup wrote it) before it answers.
      stream.on('end', () => {
        received.push(Buffer.concat(chunks));
        setTimeout(() => callback(), delayMs);
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.server.address() as AddressInfo).port, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('relay timeouts', () => {
  let t: MailTestEnvironment;
  let ingest: Awaited<ReturnType<typeof startInProcess>>;
  let redis: RedisClient;
  let deps: ChallengeJobDeps;

  async function challenged(sender: string): Promise<string> {
    const raw = `From: ${sender}\r\nTo: alice@example.test\r\nSubject: slow\r\nMessage-ID: <slow-${sender}>\r\n\r\nHi.\r\n`;
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
      locks: new SendLocks(config.databaseUrl),
    };
  });

  afterAll(async () => {
    await deps?.locks.close();
    redis?.disconnect();
    await ingest?.stop();
    await t?.cleanup();
  });

  it('waits for a relay that answers the end of the data after 65 seconds, and sends the challenge once', { timeout: 150_000 }, async () => {
    const relay = await slowRelay(65_000);
    try {
      const id = await challenged('slow-filter@remote.test');
      const slow = { ...deps, config: { ...deps.config, smtpRelay: { host: '127.0.0.1', port: relay.port } } };
      // Giving up before the reply would leave the challenge queued, and its retry would send it again.
      expect(await sendChallenge(id, slow)).toEqual({ result: 'sent' });
      expect(await sendChallenge(id, slow)).toEqual({ result: 'skipped' });
      expect(relay.received).toHaveLength(1);
      expect((await t.db.query(`SELECT status FROM challenges WHERE id = $1`, [id])).rows).toEqual([{ status: 'sent' }]);
    } finally {
      await relay.close();
    }
  });
});
