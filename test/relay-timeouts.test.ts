/**
 * The worker's outgoing side against servers that take their time: a relay that answers the end of the
 * data only after a minute and more (a slow content filter) has the challenge, and the worker waits for
 * its reply instead of giving up and sending the challenge a second time; a relay or downstream server
 * that trickles a reply a line at a time (a tarpit) does not hold the job, its worker slot and its send
 * lock for ever: the attempt ends with a 4xx and is retried.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { deliver } from '@crgate/ingest';
import { addUser } from '@crgate/store';
import { sendChallenge, type ChallengeJobDeps } from '@crgate/worker';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { challengeJobDeps, queuedChallenge } from './helpers/worker-deps.js';

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

/**
 * A server that answers like a server until `stage` (the EHLO/LHLO, or the end of the data), then
 * sends that reply's continuation lines one every 20 seconds, never its last line.
 */
async function tarpit(stage: 'hello' | 'data-end'): Promise<{ port: number; close(): void }> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    const trickle = () => {
      socket.write('250-still working\r\n');
      const timer = setInterval(() => socket.write('250-still working\r\n'), 20_000);
      socket.on('close', () => clearInterval(timer));
    };
    let inData = false;
    let buffered = '';
    socket.write('220 tarpit.test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let i = buffered.indexOf('\r\n'); i >= 0; i = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (inData) {
          if (line === '.') {
            inData = false;
            trickle();
          }
        } else if (verb === 'EHLO' || verb === 'LHLO') {
          if (stage === 'hello') trickle();
          else socket.write('250 tarpit.test\r\n');
        } else if (verb === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as AddressInfo).port, close: () => void server.close() };
}

describe('relay timeouts', () => {
  let t: MailTestEnvironment;
  let ingest: Awaited<ReturnType<typeof startInProcess>>;
  let deps: ChallengeJobDeps;

  const challenged = (sender: string) => queuedChallenge(t, sender);

  beforeAll(async () => {
    t = await createMailTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false' });
    ingest = await startInProcess(t.env, ['ingest']);
    await addUser(ingest.db, 'alice@example.test');
    deps = await challengeJobDeps(ingest);
  });

  afterAll(async () => {
    await deps?.locks.close();
    deps?.redis.disconnect();
    await ingest?.stop();
    await t?.cleanup();
  });

  it.concurrent('waits for a relay that answers the end of the data after 65 seconds, and sends the challenge once', { timeout: 150_000 }, async () => {
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

  it.concurrent('gives up on a relay that trickles its EHLO reply for ever, and leaves the challenge to be retried', { timeout: 150_000 }, async () => {
    const relay = await tarpit('hello');
    try {
      const id = await challenged('tarpit@remote.test');
      const tarpitted = { ...deps, config: { ...deps.config, smtpRelay: { host: '127.0.0.1', port: relay.port } } };
      const started = Date.now();
      await expect(sendChallenge(id, tarpitted)).rejects.toThrow(/relay unavailable: 451 .*not done within 60 s/);
      expect(Date.now() - started).toBeLessThan(90_000);
      // Queued, for the retry to send; and its send lock is free for that retry.
      expect((await t.db.query(`SELECT status FROM challenges WHERE id = $1`, [id])).rows).toEqual([{ status: 'queued' }]);
      expect(await sendChallenge(id, deps)).toEqual({ result: 'sent' });
      expect(t.smtpSink.messages.filter((m) => m.rcptTo.includes('tarpit@remote.test'))).toHaveLength(1);
    } finally {
      relay.close();
    }
  });

  it('gives up on a downstream that trickles its reply to the end of the data, with a 4xx the release is retried on', { timeout: 60_000 }, async () => {
    const downstream = await tarpit('data-end');
    try {
      const message = Buffer.from('From: bob@remote.test\r\nSubject: released\r\n\r\nHi.\r\n');
      const [result] = await deliver({ kind: 'lmtp', host: '127.0.0.1', port: downstream.port }, { mailFrom: 'bob@remote.test', recipients: ['alice@example.test'], message, deadlineMs: 3_000 });
      expect(result).toMatchObject({ ok: false, code: 451 });
      expect(result!.message).toMatch(/not done within 3 s/);
    } finally {
      downstream.close();
    }
  });
});
