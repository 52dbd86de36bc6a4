/**
 * How `crgate start` stops: on SIGTERM a message whose DATA is under way is finished and answered;
 * a new command gets 421 (the MTA retries later) and the process exits 0 once the MTA hangs up. A second
 * signal means the operator will not wait: the process exits at once with 1, leaving unfinished work
 * to the MTA's retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { runCli, startEngineReady } from './helpers/engine-process.js';
import { sleep } from './helpers/sinks.js';

interface Session {
  socket: net.Socket;
  said: () => string;
  /** Waits until the server's replies so far match. */
  until: (pattern: RegExp) => Promise<void>;
}

/** An LMTP client that has sent LHLO and MAIL FROM and then waits, as a slow MTA would. */
async function openTransaction(port: number): Promise<Session> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d) => (text += d.toString()));
  socket.on('error', () => undefined);
  const until = async (pattern: RegExp) => {
    for (let i = 0; i < 200 && !pattern.test(text); i++) await sleep(50);
    if (!pattern.test(text)) throw new Error(`no ${pattern} from the server; it said:\n${text}`);
  };
  await until(/^220 /m);
  socket.write('LHLO mta.example.test\r\n');
  await until(/^250 /m);
  socket.write('MAIL FROM:<someone@remote.test>\r\n');
  await until(/^250 .*\r\n[\s\S]*^250 /m);
  return { socket, said: () => text, until };
}

describe('stopping the engine', { timeout: 90_000 }, () => {
  let t: MailTestEnvironment;
  beforeAll(async () => {
    t = await createMailTestEnvironment();
    expect((await runCli(['users', 'add', 'alice@example.test'], t.env)).code).toBe(0);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('finishes a message whose DATA is under way on SIGTERM, then exits 0', async () => {
    const engine = await startEngineReady(t.env, ['--role', 'ingest']);
    const session = await openTransaction(t.lmtpPort);
    session.socket.write('RCPT TO:<alice@example.test>\r\nDATA\r\n');
    await session.until(/^354 /m);
    session.socket.write('From: someone@remote.test\r\nTo: alice@example.test\r\nMessage-ID: <stop-1@remote.test>\r\n');
    engine.child.kill('SIGTERM');
    await engine.waitForLog((l) => l.event === 'engine.stopping', 'the stop to begin');
    await sleep(1000);
    expect(engine.child.exitCode, 'exited with a message half received').toBeNull();

    session.socket.write('Subject: sent while crgate stops\r\n\r\nHello.\r\n.\r\n');
    await session.until(/^354 .*\r\n\d{3} /m);
    expect(session.said().trimEnd().split('\r\n').at(-1)).toMatch(/^250 /);
    const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM messages WHERE message_id_header LIKE '%stop-1@remote.test%'`);
    expect(rows[0].n).toBe(1);

    // A new transaction is refused for now, and the MTA hangs up as Postfix does after a 421.
    session.socket.write('MAIL FROM:<someone@remote.test>\r\n');
    await session.until(/^421 /m);
    session.socket.end();
    expect((await engine.exited).code).toBe(0);
  });

  it('exits at once with 1 on a second SIGTERM while a session holds the stop', async () => {
    const engine = await startEngineReady(t.env, ['--role', 'ingest']);
    const session = await openTransaction(t.lmtpPort);
    engine.child.kill('SIGTERM');
    await engine.waitForLog((l) => l.event === 'engine.stopping', 'the stop to begin');
    await sleep(500);
    expect(engine.child.exitCode).toBeNull();

    const asked = Date.now();
    engine.child.kill('SIGTERM');
    const exit = await engine.exited;
    // Well under the 30 s an LMTP session is given to finish.
    expect(Date.now() - asked).toBeLessThan(10_000);
    expect(exit.code).toBe(1);
    expect(engine.logs.some((l) => l.event === 'engine.stop_forced')).toBe(true);
    session.socket.destroy();
  });
});
