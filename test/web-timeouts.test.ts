/**
 * A client that trickles its request headers (slowloris) must not hold a socket of the web site for
 * long: the site gives headers 15 s, then answers 408 and closes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';
import { startEngineReady, type EngineProcess } from './helpers/engine-process.js';

describe('web site timeouts', { timeout: 60_000 }, () => {
  let t: TestEnvironment;
  let engine: EngineProcess;
  beforeAll(async () => {
    t = await createTestEnvironment();
    engine = await startEngineReady(t.env, ['--role', 'web']);
  });
  afterAll(async () => {
    await engine?.kill();
    await t?.cleanup();
  });

  it('closes a connection whose headers trickle in for longer than 15 s', async () => {
    const socket = net.connect(t.webPort, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const opened = Date.now();
    socket.write('GET /signin HTTP/1.1\r\nHost: localhost\r\n');
    // One byte a second: every byte is new activity, so only the headers deadline can end this.
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write('X');
    }, 1000);
    const closedAfter = await new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
    clearInterval(drip);

    expect(closedAfter).toBeGreaterThanOrEqual(14_000);
    // Node checks for overdue requests on an interval; at its default (30 s) this took about 30 s.
    expect(closedAfter).toBeLessThan(20_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });
});
