/**
 * The outbox relay's LISTEN connection when PostgreSQL is slow to accept connections (restarting,
 * overloaded, a network path in trouble): the relay opens one at a time, whatever its poll interval,
 * and leaves none open once stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { openDatabase, type Db } from '@crgate/store';
import { OutboxRelay } from '@crgate/worker';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { sleep, waitFor } from './helpers/sinks.js';

describe('the outbox relay when PostgreSQL accepts connections slowly', () => {
  let t: TestEnvironment;
  let db: Db;
  let proxy: TcpProxy;

  /** Connections of this test's database sitting in LISTEN: the relay's, and only the relay's. */
  async function listeners(): Promise<number> {
    const { rows } = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN crgate_outbox'`,
    );
    return rows[0]!.n;
  }

  beforeAll(async () => {
    t = await createTestEnvironment();
    db = await openDatabase(t.databaseUrl, silentLogger);
    proxy = await startTcpProxy(Number(new URL(t.databaseUrl).port || 5432));
  });

  afterAll(async () => {
    await proxy?.close();
    await db?.end();
    await t?.cleanup();
  });

  it('keeps one LISTEN connection while reconnecting, and none after stop()', async () => {
    const url = new URL(t.databaseUrl);
    url.port = String(proxy.port);
    const relay = new OutboxRelay(db, new Map(), silentLogger, { databaseUrl: url.toString(), pollMs: 100 });
    await relay.start();
    await waitFor(async () => (await listeners()) === 1, 'the relay listening');

    // The listener's connection drops and every new connection takes 1.5 s to reach PostgreSQL:
    // fifteen polls come round while the first reconnection is still on its way.
    proxy.acceptDelayMs = 1500;
    await proxy.cut();
    await proxy.restore();
    await waitFor(async () => (await listeners()) === 0, 'the old listener gone');
    await sleep(2500);
    expect(await listeners()).toBe(1);

    // Stopped while a reconnection is under way: that connection is closed too, not left behind.
    await proxy.cut();
    await proxy.restore();
    await waitFor(async () => (await listeners()) === 0, 'the listener gone again');
    await sleep(300);
    await relay.stop();
    await sleep(2000);
    expect(await listeners()).toBe(0);
  });
});
