/**
 * kill -9 of the ingest while an MTA-like client that retries on 4xx and on dropped connections sends
 * 2,000 messages: afterwards every message is held exactly once per recipient (counted by Message-ID
 * and recipient). The client resends the very same bytes, as an MTA does from its queue.
 *
 * Held mail is where crgate can promise exactly once: a message is stored in one transaction and a
 * resend of the same bytes is recognised. Mail delivered downstream keeps the window every MTA has
 * (downstream accepted it, the process died before answering): docs/architecture.md explains it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';
import { runCli, startEngineReady, type EngineProcess } from './helpers/engine-process.js';
import { lmtpSend } from './helpers/lmtp-client.js';
import { sleep, waitFor } from './helpers/sinks.js';
import net from 'node:net';

const MESSAGES = 2000;
const RECIPIENTS = ['alice@example.test', 'carol@example.test'];

describe('kill -9 during a stream of 2,000 messages', () => {
  let t: TestEnvironment;
  let engine: EngineProcess;

  beforeAll(async () => {
    t = await createTestEnvironment({ CRGATE_LMTP_MAX_CLIENTS: '50' });
    for (const r of RECIPIENTS) expect((await runCli(['users', 'add', r], t.env)).code).toBe(0);
    // Only the ingest: the question is what the LMTP side stored, not what the worker did next.
    engine = await startEngineReady(t.env, ['--role', 'ingest']);
  });

  afterAll(async () => {
    await engine?.kill('SIGKILL');
    await t?.cleanup();
  });

  it('holds every message exactly once per recipient', async () => {
    let next = 0;
    let delivered = 0;
    let retries = 0;
    const sendWithRetry = async (n: number) => {
      const raw = `From: sender${n % 50}@bulk${n % 50}.test\r\nTo: ${RECIPIENTS.join(', ')}\r\nSubject: message ${n}\r\nMessage-ID: <crash-${n}@test>\r\n\r\nBody ${n}.\r\n`;
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          const replies = await lmtpSend(t.lmtpPort, `sender${n % 50}@bulk${n % 50}.test`, RECIPIENTS, raw);
          if (replies.every((r) => r.code === 250)) {
            delivered++;
            return;
          }
        } catch {
          // connection refused or dropped: the server is down, try again
        }
        retries++;
        await sleep(100);
      }
      throw new Error(`message ${n} never accepted`);
    };
    const clients = Array.from({ length: 12 }, async () => {
      while (next < MESSAGES) await sendWithRetry(next++);
    });
    const killer = (async () => {
      while (delivered < MESSAGES / 3) await sleep(20);
      await engine.kill('SIGKILL');
      await sleep(500);
      engine = await startEngineReady(t.env, ['--role', 'ingest']);
    })();
    await Promise.all([...clients, killer]);
    expect(delivered).toBe(MESSAGES);
    expect(retries).toBeGreaterThan(0);

    const { rows } = await t.db.query(
      `SELECT m.message_id_header, r.rcpt_to, count(*)::int AS n
         FROM message_recipients r JOIN messages m ON m.id = r.message_id
        GROUP BY 1, 2 HAVING count(*) <> 1`,
    );
    expect(rows).toEqual([]);
    const total = await t.db.query(`SELECT count(DISTINCT m.message_id_header)::int AS messages, count(*)::int AS copies FROM message_recipients r JOIN messages m ON m.id = r.message_id`);
    expect(total.rows[0]).toEqual({ messages: MESSAGES, copies: MESSAGES * RECIPIENTS.length });
  }, 240_000);

  it('keeps one copy when the connection drops after the data, before the reply, and the MTA resends', async () => {
    const raw = `From: late@bulk1.test\r\nTo: alice@example.test\r\nSubject: lost reply\r\nMessage-ID: <lost-reply@test>\r\n\r\nBody.\r\n`;
    // Say everything, then hang up without waiting for the replies. The data follows the 354, as from
    // an MTA: sent before it, it reaches a session the hang-up ends while the recipient is being looked up.
    const socket = net.connect(t.lmtpPort, '127.0.0.1');
    let said = '';
    socket.on('data', (d: Buffer) => (said += d.toString()));
    await waitFor(() => /^220 /m.test(said), 'the greeting');
    // As on a loaded machine, the recipient lookup waits for PostgreSQL (here 600 ms): the 354 comes late.
    const lock = await t.db.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
    setTimeout(() => void lock.query('COMMIT').then(() => lock.release()), 600);
    socket.write(`LHLO mta.test\r\nMAIL FROM:<late@bulk1.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n`);
    await waitFor(() => /^354 /m.test(said), 'the 354 for the data');
    socket.write(`${raw}.\r\n`);
    socket.destroy();
    const count = async () =>
      (await t.db.query(`SELECT count(*)::int AS n FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = '<lost-reply@test>'`)).rows[0].n;
    await waitFor(async () => (await count()) === 1, 'the stored copy');
    const replies = await lmtpSend(t.lmtpPort, 'late@bulk1.test', ['alice@example.test'], raw);
    expect(replies[0]!.code).toBe(250);
    expect(await count()).toBe(1);
  });
});
