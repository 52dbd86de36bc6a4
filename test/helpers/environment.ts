/**
 * An isolated crgate installation for one test file: its own PostgreSQL database and Redis prefix,
 * free ports, and the environment variables that point the engine at them.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { connect, createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startDnsServer, type DnsRecords, type TestDnsServer } from './dns-server.js';
import { startSink, type Sink } from './sinks.js';

/** The client address the tests' "MTA" forwards with XFORWARD for remote.test mail; SPF allows it. */
export const REMOTE_CLIENT = { addr: '203.0.113.7', helo: 'mx.remote.test' };

/**
 * What the test DNS knows by default: every *.test domain can receive mail (an MX), and remote.test
 * publishes SPF allowing REMOTE_CLIENT. A test adds records for the cases it is about.
 */
export function defaultDnsRecords(): DnsRecords {
  return {
    '*.test': { MX: [{ exchange: 'mx.example.net', priority: 10 }] },
    'remote.test': { MX: [{ exchange: 'mx.remote.test', priority: 10 }], TXT: [`v=spf1 ip4:${REMOTE_CLIENT.addr} -all`] },
  };
}

export const PG_ADMIN_URL = process.env.CRGATE_TEST_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.CRGATE_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/**
 * A port free now, for a server started later. Picked below Linux's ephemeral range (32768–60999):
 * a port the kernel hands out for listen(0) comes from that range, which is also where every outgoing
 * connection of the parallel tests takes its local port, so one of them could take it in the seconds
 * before our server listens (EADDRINUSE, seen when Postfix is configured before crgate starts).
 */
const handedOut = new Set<number>();
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Whether something accepts TCP connections on a loopback port (a daemon we started is up). */
export function portListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface TestEnvironment {
  name: string;
  databaseUrl: string;
  redisPrefix: string;
  lmtpPort: number;
  webPort: number;
  publicUrl: string;
  env: Record<string, string>;
  db: pg.Pool;
  /** The DNS server the engine asks (CRGATE_DNS_SERVERS); its records may be changed by the test. */
  dns: TestDnsServer;
  cleanup(): Promise<void>;
}

export async function createTestEnvironment(extra: Record<string, string> = {}): Promise<TestEnvironment> {
  const name = `crgate_t_${randomBytes(5).toString('hex')}`;
  const databaseUrl = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const [lmtpPort, webPort] = [await freePort(), await freePort()];
  const publicUrl = `http://localhost:${webPort}`;
  const dns = await startDnsServer(defaultDnsRecords());
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    CRGATE_REDIS_PREFIX: name,
    CRGATE_LMTP_LISTEN: `127.0.0.1:${lmtpPort}`,
    CRGATE_WEB_LISTEN: `127.0.0.1:${webPort}`,
    CRGATE_PUBLIC_URL: publicUrl,
    CRGATE_WORKER_RETRY_DELAY_MS: '200',
    CRGATE_WORKER_OUTBOX_POLL_MS: '200',
    CRGATE_LOG_LEVEL: 'info',
    CRGATE_DNS_SERVERS: dns.address,
    CRGATE_DNS_TIMEOUT_MS: '500',
    // Every engine of every test file gets its own operations port.
    CRGATE_OPS_LISTEN: '127.0.0.1:0',
    ...extra,
  };
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  db.on('error', () => undefined);
  return {
    name,
    databaseUrl,
    redisPrefix: name,
    lmtpPort,
    webPort,
    publicUrl,
    env,
    db,
    dns,
    async cleanup() {
      await db.end();
      await dns.close();
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${name}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

export interface MailTestEnvironment extends TestEnvironment {
  /** The mailbox side: CRGATE_DELIVER_TO points here. */
  lmtpSink: Sink;
  /** The outside world: CRGATE_SMTP_RELAY points here (challenges, sign-in links, digests). */
  smtpSink: Sink;
}

/**
 * createTestEnvironment with the two sinks most end-to-end tests need, already named in the
 * environment; cleanup() closes them too. `dsn: true` makes the SMTP sink offer DSN (to see NOTIFY=NEVER);
 * `smtputf8: false` makes both sinks stop offering SMTPUTF8.
 */
export async function createMailTestEnvironment(extra: Record<string, string> = {}, options: { dsn?: boolean; smtputf8?: boolean } = {}): Promise<MailTestEnvironment> {
  const utf8 = options.smtputf8 === false ? { smtputf8: false } : {};
  const lmtpSink = await startSink('lmtp', utf8);
  const smtpSink = await startSink('smtp', { ...(options.dsn ? { dsn: true } : {}), ...utf8 });
  const t = await createTestEnvironment({
    CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${lmtpSink.port}`,
    CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${smtpSink.port}`,
    ...extra,
  });
  return {
    ...t,
    lmtpSink,
    smtpSink,
    async cleanup() {
      await lmtpSink.close();
      await smtpSink.close();
      await t.cleanup();
    },
  };
}
