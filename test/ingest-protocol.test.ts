/**
 * The LMTP side of the ingest: per-recipient replies, what becomes of downstream answers, size limits,
 * aliases and sub-addresses, XFORWARD, and Maildir delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliver } from '@crgate/ingest';
import { addAlias, addListEntry, addUser, findUserByAddress } from '@crgate/store';
import { createTestEnvironment, freePort, type TestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { lmtpSend, rawLmtp } from './helpers/lmtp-client.js';
import { sleep, startSink, waitFor, type Sink } from './helpers/sinks.js';

const BASE = readFileSync(new URL('./fixtures/bob-to-alice.eml', import.meta.url), 'utf8').replace(
  'To: Alice <alice@example.test>',
  'To: Alice <alice@example.test>, carol@example.test, dave@example.test',
);
let sent = 0;
/** A new message each time: crgate rightly refuses to store the very same bytes twice for one user. */
const fresh = () => BASE.replace('<lunch-1@remote.test>', `<lunch-${++sent}-${Date.now()}@remote.test>`);

describe('LMTP ingest', () => {
  let t: TestEnvironment;
  let sink: Sink;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    sink = await startSink('lmtp');
    t = await createTestEnvironment({
      CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${sink.port}`,
      CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${await freePort()}`,
      CRGATE_LMTP_MAX_SIZE: '20000',
      CRGATE_POLICY_CHALLENGE_REQUIRES_AUTH: 'false',
    });
    engine = await startInProcess(t.env, ['ingest']);
    for (const a of ['alice@example.test', 'carol@example.test', 'dave@example.test']) await addUser(engine.db, a);
    await addAlias(engine.db, 'alice@example.test', 'a.smith@example.test');
    for (const u of ['alice@example.test', 'dave@example.test']) {
      const user = await findUserByAddress(engine.db, u);
      await addListEntry(engine.db, { userId: user!.id, list: 'white', kind: 'domain', value: 'remote.test', source: 'manual' });
    }
  });

  afterAll(async () => {
    await engine?.stop();
    await sink?.close();
    await t?.cleanup();
  });

  it('answers each recipient separately after DATA', async () => {
    sink.reply = () => true;
    const replies = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test', 'carol@example.test'], fresh());
    expect(replies.map((r) => r.code)).toEqual([250, 250]);
    const { rows } = await t.db.query(
      `SELECT rcpt_to, decision, status FROM message_recipients WHERE sender = 'bob@remote.test' ORDER BY rcpt_to`,
    );
    expect(rows).toEqual([
      { rcpt_to: 'alice@example.test', decision: 'deliver', status: 'delivered' },
      { rcpt_to: 'carol@example.test', decision: 'challenge', status: 'held' },
    ]);
  });

  it('passes a downstream 5xx through for that recipient only', async () => {
    sink.reply = (rcpt) => (rcpt === 'dave@example.test' ? Object.assign(new Error('Mailbox full'), { responseCode: 552 }) : true);
    const replies = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test', 'dave@example.test'], fresh());
    expect(replies.map((r) => r.code)).toEqual([250, 552]);
    expect(replies[1]!.message).toContain('Mailbox full');
  });

  it('turns a downstream 4xx into a 4xx', async () => {
    sink.reply = () => Object.assign(new Error('Try later'), { responseCode: 452 });
    const replies = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], fresh());
    expect(replies[0]!.code).toBeGreaterThanOrEqual(400);
    expect(replies[0]!.code).toBeLessThan(500);
    sink.reply = () => true;
  });

  it('answers 4xx, never 5xx, when downstream is unreachable', async () => {
    const port = await freePort();
    const other = await startInProcess({ ...t.env, CRGATE_LMTP_LISTEN: `127.0.0.1:${await freePort()}`, CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${port}` }, ['ingest']);
    try {
      const replies = await lmtpSend(other.config.lmtp.listen.port, 'bob@remote.test', ['alice@example.test'], fresh());
      expect(replies[0]!.code).toBe(451);
    } finally {
      await other.stop();
    }
  });

  it('announces SIZE and refuses a larger message with 552', async () => {
    const lmtp = await rawLmtp(t.lmtpPort);
    const [lhlo] = await lmtp.command('LHLO mta.test');
    lmtp.close();
    expect(lhlo).toMatch(/^250-SIZE 20000$/m);
    const replies = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test'], fresh() + 'x'.repeat(30_000) + '\r\n');
    expect(replies[0]!.code).toBe(552);
  });

  it('sends one reply per accepted recipient when a client repeats a recipient: the repeat gets 452 at RCPT', async () => {
    sink.reply = (rcpt) => (rcpt === 'dave@example.test' ? Object.assign(new Error('Mailbox full'), { responseCode: 552 }) : true);
    const message = fresh();
    const lmtp = await rawLmtp(t.lmtpPort);
    expect((await lmtp.command('LHLO mta.test'))[0]).toMatch(/^250/);
    expect((await lmtp.command('MAIL FROM:<bob@remote.test>'))[0]).toMatch(/^250 /);
    expect((await lmtp.command('RCPT TO:<alice@example.test>'))[0]).toMatch(/^250 /);
    expect((await lmtp.command('RCPT TO:<ALICE@example.test>'))[0]).toMatch(/^452 /);
    expect((await lmtp.command('RCPT TO:<dave@example.test>'))[0]).toMatch(/^250 /);
    expect((await lmtp.command('DATA'))[0]).toMatch(/^354 /);
    // Two recipients accepted, two replies, in their order: dave's 552 is not charged to anyone else.
    const replies = await lmtp.data(message, 2);
    lmtp.close();
    expect(replies.map((r) => r.slice(0, 3))).toEqual(['250', '552']);
    // The MTA sends the repeat on its own: answered 250 and not delivered a second time.
    const before = sink.messages.length;
    const again = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['ALICE@example.test'], message);
    expect(again.map((r) => r.code)).toEqual([250]);
    expect(sink.messages.length).toBe(before);
    sink.reply = () => true;
  });

  it('accepts aliases, +tags and any case in the domain', async () => {
    const before = sink.messages.length;
    const replies = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['A.Smith@EXAMPLE.test', 'alice+news@Example.Test'], fresh());
    expect(replies.map((r) => r.code)).toEqual([250, 250]);
    // Both name one user: one copy.
    expect(sink.messages.length).toBe(before + 1);
  });

  it('records the client address and HELO the MTA forwards with XFORWARD', async () => {
    const lmtp = await rawLmtp(t.lmtpPort);
    await lmtp.command('LHLO mta.test');
    expect(await lmtp.command('XFORWARD ADDR=203.0.113.7 HELO=mail.remote.test')).toEqual([expect.stringMatching(/^250 /)]);
    await lmtp.command('MAIL FROM:<eve@elsewhere.test>');
    await lmtp.command('RCPT TO:<carol@example.test>');
    await lmtp.command('DATA');
    const reply = await lmtp.data(BASE.replace('<lunch-1@remote.test>', '<xf@elsewhere.test>'), 1);
    lmtp.close();
    expect(reply[0]).toMatch(/^250 /);
    const { rows } = await t.db.query(`SELECT client_address, client_helo FROM messages WHERE message_id_header = '<xf@elsewhere.test>'`);
    expect(rows).toEqual([{ client_address: '203.0.113.7', client_helo: 'mail.remote.test' }]);
  });

  it('believes XFORWARD from the MTA only: another peer is refused it, and its mail has no client for SPF', async () => {
    const socket = connect({ host: '127.0.0.1', port: t.lmtpPort, localAddress: '127.0.0.2' });
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    const reply = async (re: RegExp) => {
      await waitFor(() => re.test(text), `a reply matching ${re}`);
      const got = text;
      text = '';
      return got;
    };
    await reply(/^220 /m);
    socket.write('LHLO attacker.test\r\n');
    expect(await reply(/^250 /m)).not.toContain('XFORWARD');
    socket.write('XFORWARD ADDR=203.0.113.7 HELO=mx.remote.test\r\n');
    expect(await reply(/^\d{3} /m)).toMatch(/^550 /);
    socket.write('MAIL FROM:<eve@elsewhere.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n');
    await reply(/^354 /m);
    socket.write(`${BASE.replace('<lunch-1@remote.test>', '<xf-untrusted@elsewhere.test>')}\r\n.\r\n`);
    expect(await reply(/^\d{3} /m)).toMatch(/^250 /);
    socket.end();
    const { rows } = await t.db.query(`SELECT client_address, client_helo FROM messages WHERE message_id_header = '<xf-untrusted@elsewhere.test>'`);
    expect(rows).toEqual([{ client_address: null, client_helo: null }]);
  });

  it('forgets the forwarded client after each message: the next one on the connection is its own', async () => {
    const lmtp = await rawLmtp(t.lmtpPort);
    await lmtp.command('LHLO mta.test');
    expect(await lmtp.command('XFORWARD ADDR=203.0.113.7 HELO=mail.remote.test')).toEqual([expect.stringMatching(/^250 /)]);
    for (const id of ['xf-first', 'xf-second']) {
      await lmtp.command('MAIL FROM:<eve@elsewhere.test>');
      await lmtp.command('RCPT TO:<carol@example.test>');
      await lmtp.command('DATA');
      expect((await lmtp.data(BASE.replace('<lunch-1@remote.test>', `<${id}@elsewhere.test>`), 1))[0]).toMatch(/^250 /);
    }
    lmtp.close();
    const { rows } = await t.db.query(
      `SELECT message_id_header AS id, client_address, client_helo FROM messages WHERE message_id_header IN ('<xf-first@elsewhere.test>', '<xf-second@elsewhere.test>') ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: '<xf-first@elsewhere.test>', client_address: '203.0.113.7', client_helo: 'mail.remote.test' },
      { id: '<xf-second@elsewhere.test>', client_address: null, client_helo: null },
    ]);
  });
});

/**
 * A downstream LMTP server (Dovecot) whose replies after DATA are scripted, one line per recipient, with
 * enhanced status codes smtp-server would never choose itself for those reply codes; `drop` resets the
 * connection at that point. `mailboxes` lists, per recipient, every copy it accepted (a 2xx reply sent).
 */
async function scriptedDownstream(replies: string[]): Promise<{ port: number; replies: string[]; mailboxes: Map<string, number>; close(): Promise<void> }> {
  const mailboxes = new Map<string, number>();
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.write('220 dovecot LMTP ready\r\n');
    let buffer = '';
    let inData = false;
    let rcpts: string[] = [];
    s.on('data', (d) => {
      buffer += d.toString('latin1');
      for (let i; (i = buffer.indexOf('\r\n')) >= 0; ) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            for (const [i, reply] of downstream.replies.entries()) {
              if (reply === 'drop') return void s.resetAndDestroy();
              if (reply.startsWith('2')) mailboxes.set(rcpts[i]!, (mailboxes.get(rcpts[i]!) ?? 0) + 1);
              s.write(`${reply}\r\n`);
            }
            rcpts = [];
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'RCPT') rcpts.push(line.replace(/^RCPT TO:<([^>]*)>.*$/i, '$1').toLowerCase());
        if (verb === 'LHLO') s.write('250-dovecot\r\n250 ENHANCEDSTATUSCODES\r\n');
        else if (verb === 'DATA') {
          inData = true;
          s.write('354 OK\r\n');
        } else if (verb === 'QUIT') s.end('221 2.0.0 Bye\r\n');
        else s.write('250 2.1.5 OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const downstream = { port: (server.address() as AddressInfo).port, replies, mailboxes, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  return downstream;
}

/** The ingest alone, delivering to `port`, with alice and dave, who both whitelisted remote.test. */
async function ingestFor(port: number) {
  const t = await createTestEnvironment({ CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${port}`, CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${await freePort()}` });
  const engine = await startInProcess(t.env, ['ingest']);
  for (const a of ['alice@example.test', 'dave@example.test']) {
    await addUser(engine.db, a);
    const user = await findUserByAddress(engine.db, a);
    await addListEntry(engine.db, { userId: user!.id, list: 'white', kind: 'domain', value: 'remote.test', source: 'manual' });
  }
  return { t, engine };
}

describe('a downstream refusal', () => {
  it("keeps the downstream server's enhanced status code: a policy refusal does not become 'no such user'", async () => {
    const downstream = await scriptedDownstream(['550 5.7.1 Rejected by Sieve: spam', '450 4.2.0 Mailbox is locked']);
    const { t, engine } = await ingestFor(downstream.port);
    try {
      const replies = await rawReplies(t.lmtpPort, 'bob@remote.test', ['alice@example.test', 'dave@example.test'], fresh());
      // What Postfix copies into the bounce (Status: 5.7.1) and the delay notice (4.2.0).
      expect(replies).toEqual(['550 5.7.1 Rejected by Sieve: spam', '451 4.2.0 Mailbox is locked']);
    } finally {
      await engine.stop();
      await downstream.close();
      await t.cleanup();
    }
  });

  it('answers 250 for a recipient downstream accepted before it went away, so the retry of the others leaves one copy each', async () => {
    // Dovecot's LMTP process dies after delivering to alice, before its reply for dave.
    const downstream = await scriptedDownstream(['250 2.0.0 <alice@example.test> Saved', 'drop']);
    const { t, engine } = await ingestFor(downstream.port);
    try {
      const message = fresh();
      const first = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test', 'dave@example.test'], message);
      expect(first.map((r) => r.code)).toEqual([250, 451]);
      // As Postfix does: the recipients that did not get a 250 are tried again, once downstream is back.
      downstream.replies.splice(0, downstream.replies.length, '250 2.0.0 <dave@example.test> Saved');
      const retry = await lmtpSend(t.lmtpPort, 'bob@remote.test', first.filter((r) => r.code !== 250).map((r) => r.rcpt), message);
      expect(retry.map((r) => r.code)).toEqual([250]);
      expect(Object.fromEntries(downstream.mailboxes)).toEqual({ 'alice@example.test': 1, 'dave@example.test': 1 });
    } finally {
      await engine.stop();
      await downstream.close();
      await t.cleanup();
    }
  });
});

/** The ingest's replies after DATA exactly as sent, one per recipient. */
async function rawReplies(port: number, from: string, to: string[], raw: string): Promise<string[]> {
  const c = await rawLmtp(port);
  try {
    await c.command('LHLO mta.test');
    await c.command(`MAIL FROM:<${from}>`);
    for (const r of to) await c.command(`RCPT TO:<${r}>`);
    await c.command('DATA');
    return await c.data(raw, to.length);
  } finally {
    c.close();
  }
}

describe('Maildir delivery', () => {
  it('writes DIR/<domain>/<user>/Maildir/new', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crgate-maildir-'));
    const t = await createTestEnvironment({ CRGATE_DELIVER_TO: `maildir:${dir}`, CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${await freePort()}` });
    const engine = await startInProcess(t.env, ['ingest']);
    try {
      await addUser(engine.db, 'alice@example.test');
      const user = await findUserByAddress(engine.db, 'alice@example.test');
      await addListEntry(engine.db, { userId: user!.id, list: 'white', kind: 'address', value: 'bob@remote.test', source: 'manual' });
      const message = fresh();
      const replies = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice+x@example.test'], message);
      expect(replies[0]!.code).toBe(250);
      const box = join(dir, 'example.test', 'alice', 'Maildir');
      const files = readdirSync(join(box, 'new'));
      expect(files).toHaveLength(1);
      expect(readdirSync(join(box, 'tmp'))).toHaveLength(0);
      expect(readFileSync(join(box, 'new', files[0]!), 'utf8').endsWith(message)).toBe(true);
    } finally {
      await engine.stop();
      await t.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers 451 and leaves no half-written file in tmp/ when the message cannot be moved into new/', async () => {
    // new/ on another file system (tmpfs): the rename from tmp/ fails with EXDEV after the file is written.
    const dir = await mkdtemp(join(tmpdir(), 'crgate-maildir-'));
    const elsewhere = await mkdtemp('/dev/shm/crgate-maildir-new-');
    expect(statSync(elsewhere).dev).not.toBe(statSync(dir).dev);
    try {
      const box = join(dir, 'example.test', 'alice', 'Maildir');
      await mkdir(join(box, 'tmp'), { recursive: true });
      await symlink(elsewhere, join(box, 'new'));
      const [result] = await deliver({ kind: 'maildir', dir }, { mailFrom: 'bob@remote.test', recipients: ['alice@example.test'], message: Buffer.from(fresh()) });
      expect(result).toMatchObject({ ok: false, code: 451 });
      expect(readdirSync(join(box, 'tmp'))).toEqual([]);
      expect(readdirSync(elsewhere)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('a retried message', () => {
  /**
   * A fresh ingest whose alice whitelists bob and whose carol does not: a message from bob to both is
   * delivered to one and held for the other. `expectOneCopyEach` checks nothing was kept twice.
   */
  async function withTwoRecipients(fn: (ctx: { sink: Sink; t: TestEnvironment; expectOneCopyEach: () => Promise<void> }) => Promise<void>): Promise<void> {
    const sink = await startSink('lmtp');
    const t = await createTestEnvironment({ CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${sink.port}`, CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${await freePort()}` });
    const engine = await startInProcess(t.env, ['ingest']);
    try {
      await addUser(engine.db, 'alice@example.test');
      await addUser(engine.db, 'carol@example.test');
      const user = await findUserByAddress(engine.db, 'alice@example.test');
      await addListEntry(engine.db, { userId: user!.id, list: 'white', kind: 'address', value: 'bob@remote.test', source: 'manual' });
      await fn({
        sink,
        t,
        expectOneCopyEach: async () => {
          expect(sink.messages).toHaveLength(1);
          const { rows } = await t.db.query(`SELECT rcpt_to, status FROM message_recipients ORDER BY rcpt_to`);
          expect(rows).toEqual([
            { rcpt_to: 'alice@example.test', status: 'delivered' },
            { rcpt_to: 'carol@example.test', status: 'held' },
          ]);
        },
      });
    } finally {
      sink.resume();
      await engine.stop();
      await sink.close();
      await t.cleanup();
    }
  }

  it('is answered 250 but not stored or delivered again when the MTA sends the same bytes after a lost reply', async () => {
    await withTwoRecipients(async ({ t, expectOneCopyEach }) => {
      const message = fresh();
      for (let i = 0; i < 3; i++) {
        const replies = await lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test', 'carol@example.test'], message);
        expect(replies.map((r) => r.code)).toEqual([250, 250]);
      }
      await expectOneCopyEach();
    });
  });

  it('is stored and delivered once when the same bytes arrive again while the first attempt is still being decided', async () => {
    await withTwoRecipients(async ({ sink, t, expectOneCopyEach }) => {
      const message = fresh();
      // Downstream holds the first attempt's delivery; the client gives up waiting and sends again.
      sink.pause();
      const first = lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test', 'carol@example.test'], message);
      await waitFor(() => sink.held() === 1, 'the first attempt at the downstream server');
      const second = lmtpSend(t.lmtpPort, 'bob@remote.test', ['alice@example.test', 'carol@example.test'], message);
      await sleep(1000);
      sink.resume();
      const replies = await Promise.all([first, second]);
      expect(replies.map((r) => r.map((x) => x.code))).toEqual([
        [250, 250],
        [250, 250],
      ]);
      await expectOneCopyEach();
    });
  });
});
