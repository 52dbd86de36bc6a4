/**
 * The worker reaches Redis as configured: through a Sentinel that names the master, and on a Redis
 * Cluster with a {hash tag} prefix. Each case runs private redis-server processes on free ports and
 * sends one challenge through the whole path (LMTP → outbox → BullMQ → SMTP), whose queue keys must
 * be found in that Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { addUser } from '@crgate/store';
import { createTestEnvironment, freePort, type TestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { startSink, waitFor, type Sink } from './helpers/sinks.js';

interface PrivateRedis {
  port: number;
  client: Redis;
  stop(): Promise<void>;
}

/** A redis-server of its own (no persistence) on a free port; `args` add to its command line. */
async function startRedis(args: string[] = [], sentinelConfig?: string): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crgate-redis-'));
  let argv: string[];
  if (sentinelConfig !== undefined) {
    // A Sentinel rewrites its configuration file, so it needs one of its own.
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, `port ${port}\nbind 127.0.0.1\n${sentinelConfig}\n`);
    argv = [file, '--sentinel'];
  } else {
    argv = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args];
  }
  const child: ChildProcess = spawn('redis-server', argv, { stdio: 'ignore' });
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await waitFor(async () => (await client.ping().catch(() => '')) === 'PONG', `redis-server on ${port}`);
  return {
    port,
    client,
    async stop() {
      client.disconnect();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function sendsAChallenge(t: TestEnvironment, smtpSink: Sink, roles: Awaited<ReturnType<typeof startInProcess>>): Promise<void> {
  await addUser(roles.db, 'alice@example.test');
  const raw = 'From: someone@remote.test\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <topology@test>\r\n\r\nHello.\r\n';
  const [reply] = await lmtpSend(t.lmtpPort, 'someone@remote.test', ['alice@example.test'], raw);
  expect(reply!.code).toBe(250);
  await waitFor(() => smtpSink.messages.length === 1, 'the challenge sent through the queue', 30_000);
  expect(smtpSink.messages[0]!.rcptTo).toEqual(['someone@remote.test']);
}

describe('Redis behind a Sentinel', () => {
  let master: PrivateRedis;
  let sentinel: PrivateRedis;
  let t: TestEnvironment;
  let smtpSink: Sink;
  let roles: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    master = await startRedis();
    sentinel = await startRedis([], `sentinel monitor crgate-test 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds crgate-test 60000`);
    await waitFor(
      async () => ((await sentinel.client.call('SENTINEL', 'get-master-addr-by-name', 'crgate-test').catch(() => null)) as string[] | null)?.[1] === String(master.port),
      'the Sentinel knows the master',
    );
    smtpSink = await startSink('smtp');
    t = await createTestEnvironment({
      // Nothing listens here: the worker must find Redis through the Sentinel alone.
      REDIS_URL: 'redis://127.0.0.1:1',
      CRGATE_REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      CRGATE_REDIS_SENTINEL_NAME: 'crgate-test',
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
    });
    t.env.CRGATE_SMTP_RELAY = `smtp://127.0.0.1:${smtpSink.port}`;
    roles = await startInProcess(t.env);
  });

  afterAll(async () => {
    await roles?.stop();
    await smtpSink?.close();
    await t?.cleanup();
    await sentinel?.stop();
    await master?.stop();
  });

  it('sends a challenge through the queues of the master the Sentinel names', async () => {
    await sendsAChallenge(t, smtpSink, roles);
    expect(await master.client.keys(`${t.redisPrefix}:q:challenges:*`)).not.toEqual([]);
  });
});

describe('Redis Cluster', () => {
  let node: PrivateRedis;
  let t: TestEnvironment;
  let smtpSink: Sink;
  let roles: Awaited<ReturnType<typeof startInProcess>>;
  let prefix: string;

  beforeAll(async () => {
    // A Cluster of one node that serves every slot: enough to speak the Cluster protocol (MOVED,
    // CROSSSLOT) that a key outside the hash tag would trip over.
    // A lone node announces no address of its own unless told: clients would not know where slots live.
    node = await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1']);
    await node.client.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await waitFor(async () => String(await node.client.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 'the cluster is ready');
    smtpSink = await startSink('smtp');
    t = await createTestEnvironment({ CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false', CRGATE_REDIS_CLUSTER: 'true' });
    prefix = `{${t.redisPrefix}}`;
    Object.assign(t.env, {
      REDIS_URL: `redis://127.0.0.1:${node.port}`,
      CRGATE_REDIS_PREFIX: prefix,
      CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${smtpSink.port}`,
    });
    roles = await startInProcess(t.env);
  });

  afterAll(async () => {
    await roles?.stop();
    await smtpSink?.close();
    await t?.cleanup();
    await node?.stop();
  });

  it('sends a challenge with every key under the {hash tag} prefix', async () => {
    await sendsAChallenge(t, smtpSink, roles);
    const keys = await node.client.keys('*');
    expect(keys.filter((k) => k.startsWith(`${prefix}:q:challenges:`))).not.toEqual([]);
    expect(keys.filter((k) => k.startsWith(`${prefix}:rl:`))).not.toEqual([]);
    expect(keys.filter((k) => !k.startsWith(`${prefix}:`))).toEqual([]);
  });
});
