/**
 * The ingest keeps its connection to the downstream LMTP server open between deliveries, as Postfix's
 * connection cache does, and never loses a message to a connection the server closed while it was idle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo, Socket } from 'node:net';
import { DeliveryPool } from '@crgate/ingest';

interface Downstream {
  port: number;
  connections: number;
  sockets: Set<Socket>;
  messages: Buffer[];
  close(): Promise<void>;
}

async function downstream(): Promise<Downstream> {
  const d: Downstream = { port: 0, connections: 0, sockets: new Set(), messages: [], close: async () => undefined };
  const server = new SMTPServer({
    lmtp: true,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        d.messages.push(Buffer.concat(chunks));
        callback(null, session.envelope.rcptTo.map(() => true) as never);
      });
    },
  });
  server.server.on('connection', (socket: Socket) => {
    d.connections++;
    d.sockets.add(socket);
    socket.on('close', () => d.sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  d.port = (server.server.address() as AddressInfo).port;
  d.close = () => new Promise((resolve) => server.close(() => resolve()));
  return d;
}

const message = (n: number) => Buffer.from(`From: a@remote.test\r\nSubject: ${n}\r\n\r\nbody ${n}\r\n`);

describe('the downstream connection pool', () => {
  let pool: DeliveryPool | undefined;
  let server: Downstream | undefined;

  afterEach(async () => {
    pool?.close();
    await server?.close();
  });

  it('delivers consecutive messages over one connection', async () => {
    server = await downstream();
    pool = new DeliveryPool();
    const target = { kind: 'lmtp' as const, host: '127.0.0.1', port: server.port };
    for (let i = 0; i < 3; i++) {
      const [r] = await pool.deliver(target, { mailFrom: 'a@remote.test', recipients: ['alice@example.test'], message: message(i) });
      expect(r!.code).toBe(250);
    }
    expect(server.messages.map((m) => m.toString())).toEqual([0, 1, 2].map((i) => message(i).toString()));
    expect(server.connections).toBe(1);
  });

  it('opens a new connection when the server closed the idle one', async () => {
    server = await downstream();
    pool = new DeliveryPool();
    const target = { kind: 'lmtp' as const, host: '127.0.0.1', port: server.port };
    await pool.deliver(target, { mailFrom: 'a@remote.test', recipients: ['alice@example.test'], message: message(1) });
    for (const s of server.sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const [r] = await pool.deliver(target, { mailFrom: 'a@remote.test', recipients: ['alice@example.test'], message: message(2) });
    expect(r!.code).toBe(250);
    expect(server.messages).toHaveLength(2);
    expect(server.connections).toBe(2);
  });

  it('sends a prepended header and a large original as one message', async () => {
    server = await downstream();
    pool = new DeliveryPool();
    const original = Buffer.from(`Subject: big\r\n\r\n${'.line starting with a dot\r\n'.repeat(40_000)}`);
    const header = Buffer.from('X-Crgate-Decision: deliver\r\n');
    const [r] = await pool.deliver(
      { kind: 'lmtp', host: '127.0.0.1', port: server.port },
      { mailFrom: 'a@remote.test', recipients: ['alice@example.test'], message: [header, original] },
    );
    expect(r!.code).toBe(250);
    expect(server.messages[0]!.equals(Buffer.concat([header, original]))).toBe(true);
  });
});
