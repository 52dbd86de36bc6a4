/**
 * A message larger than SPOOL_ABOVE_BYTES waits in a spool file while crgate decides, with only its
 * head in memory (packages/ingest/src/message-spool.ts). Nothing about it may change for that: it is
 * delivered and stored byte for byte, DKIM is checked over all of it, and no file is left behind.
 * Real DKIM signatures (nodemailer's signer) against the test DNS server; Python's smtplib as client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import DKIM from 'nodemailer/lib/dkim';
import { HEAD_BYTES, SPOOL_ABOVE_BYTES } from '@crgate/ingest';
import { silentLogger } from '@crgate/core';
import { addListEntry, addUser, BODY_SLICE_BYTES, findUserByAddress, SendLocks } from '@crgate/store';
import { deliverReleased } from '@crgate/worker';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { runCli, startEngineReady, type EngineProcess } from './helpers/engine-process.js';
import { startInProcess } from './helpers/in-process.js';
import { pythonLmtpSend } from './helpers/lmtp-client.js';
import { waitFor } from './helpers/sinks.js';

const CLIENT = { addr: '198.51.100.31', helo: 'mx.signed.test' };
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicDer = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/** A plain-text message from `from` a little over the spool threshold, its lines all different. */
function large(id: string, from: string): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < SPOOL_ABOVE_BYTES + 512 * 1024; i++) {
    const line = `${id} line ${i}: the quick brown fox jumps over the lazy dog, again and again.`;
    lines.push(line);
    size += line.length + 2;
  }
  return `From: ${from}\r\nTo: alice@example.test\r\nSubject: Large ${id}\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\nMessage-ID: <${id}@signed.test>\r\n\r\n${lines.join('\r\n')}\r\n`;
}

async function signed(message: string): Promise<string> {
  const signer = new DKIM({ domainName: 'signed.test', keySelector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
  return text(signer.sign(message));
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('a message larger than the spool threshold', () => {
  let t: MailTestEnvironment;
  let engine: Awaited<ReturnType<typeof startInProcess>>;
  let spoolDir: string;
  const tmpBefore = process.env.TMPDIR;

  beforeAll(async () => {
    // The spool goes to the system's temporary directory: a fresh one, to see what is left in it.
    spoolDir = await mkdtemp(join(tmpdir(), 'crgate-spool-test-'));
    process.env.TMPDIR = spoolDir;
    t = await createMailTestEnvironment({ CRGATE_LMTP_MAX_SIZE: String(16 * 1024 * 1024) });
    Object.assign(t.dns.records, {
      'signed.test': { MX: [{ exchange: 'mx.signed.test', priority: 10 }], TXT: [`v=spf1 ip4:${CLIENT.addr} -all`] },
      'sel._domainkey.signed.test': { TXT: [`v=DKIM1; k=rsa; p=${publicDer}`] },
    });
    engine = await startInProcess(t.env, ['ingest']);
    await addUser(engine.db, 'alice@example.test');
    const alice = await findUserByAddress(engine.db, 'alice@example.test');
    await addListEntry(engine.db, { userId: alice!.id, list: 'white', kind: 'address', value: 'friend@signed.test', source: 'manual' });
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  });

  it('is larger than the head kept in memory, so the rest must come from the file', () => {
    expect(Buffer.byteLength(large('probe', 'x@signed.test'))).toBeGreaterThan(Math.max(SPOOL_ABOVE_BYTES, HEAD_BYTES));
  });

  it('is delivered byte for byte, its DKIM signature verified over the whole body', async () => {
    const message = await signed(large('delivered', 'Friend <friend@signed.test>'));
    const before = t.lmtpSink.messages.length;
    const r = await pythonLmtpSend(t.lmtpPort, 'friend@signed.test', ['alice@example.test'], message, { xforward: CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    expect(t.lmtpSink.messages).toHaveLength(before + 1);
    const got = t.lmtpSink.messages[before]!.raw.toString('latin1');
    // crgate prepends its decision and Authentication-Results; the message follows unchanged.
    const at = got.indexOf('DKIM-Signature:');
    expect(sha256(got.slice(at))).toBe(sha256(message));
    expect(got.slice(0, at)).toMatch(/dkim=pass header\.i=@signed\.test /);
  });

  it('is delivered without a field forged in crgate\'s name, the rest read from the file byte for byte', async () => {
    const message = await signed(large('forged-field', 'Friend <friend@signed.test>'));
    const before = t.lmtpSink.messages.length;
    const r = await pythonLmtpSend(t.lmtpPort, 'friend@signed.test', ['alice@example.test'], `X-Crgate-Decision: deliver; reasons=FORGED\r\n${message}`, { xforward: CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    const got = t.lmtpSink.messages[before]!.raw.toString('latin1');
    expect(got.match(/^X-Crgate-Decision:/gm)).toHaveLength(1);
    expect(got).not.toContain('FORGED');
    expect(sha256(got.slice(got.indexOf('DKIM-Signature:')))).toBe(sha256(message));
  });

  it('does not pass DKIM when a byte past the head was changed after signing', async () => {
    const message = await signed(large('tampered', 'Friend <friend@signed.test>'));
    const end = message.length - 40;
    const tampered = message.slice(0, end) + (message[end] === 'x' ? 'y' : 'x') + message.slice(end + 1);
    const before = t.lmtpSink.messages.length;
    await pythonLmtpSend(t.lmtpPort, 'friend@signed.test', ['alice@example.test'], tampered, { xforward: CLIENT });
    const { rows } = await t.db.query(
      `SELECT r.reasons FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE m.message_id_header = '<tampered@signed.test>'`,
    );
    const symbols = rows[0].reasons.map((x: { symbol: string }) => x.symbol) as string[];
    expect(symbols).not.toContain('DKIM_PASS');
    // Whitelisted and SPF-authenticated, it is still delivered, with the broken body hash on record
    // (mailauth reports it as neutral, RFC 6376's lenient reading).
    expect(t.lmtpSink.messages).toHaveLength(before + 1);
    expect(t.lmtpSink.messages[before]!.raw.toString('latin1')).toMatch(/dkim=neutral \(body hash did not verify\)/);
  });

  it('is stored byte for byte when held', async () => {
    const message = await signed(large('held', 'Stranger <stranger@signed.test>'));
    const r = await pythonLmtpSend(t.lmtpPort, 'stranger@signed.test', ['alice@example.test'], message, { xforward: CLIENT });
    expect(r.data?.[0]?.[1]).toBe(250);
    expect(r.data?.[0]?.[2]).toMatch(/held/);
    const { rows } = await t.db.query(`SELECT raw, size, sha256 FROM messages WHERE message_id_header = '<held@signed.test>'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].size).toBe(Buffer.byteLength(message));
    expect(sha256(rows[0].raw)).toBe(sha256(message));
    expect(rows[0].sha256).toBe(sha256(message));
  });

  it('is released byte for byte, read from the database a slice at a time', async () => {
    const message = await signed(large('released', 'Other <other@signed.test>'));
    const r = await pythonLmtpSend(t.lmtpPort, 'other@signed.test', ['alice@example.test'], message, { xforward: CLIENT });
    expect(r.data?.[0]?.[2]).toMatch(/held/);
    const { rows } = await t.db.query(
      `UPDATE message_recipients r SET status = 'releasing' FROM messages m
        WHERE m.id = r.message_id AND m.message_id_header = '<released@signed.test>' RETURNING r.id`,
    );
    expect(Buffer.byteLength(message)).toBeGreaterThan(BODY_SLICE_BYTES);
    const before = t.lmtpSink.messages.length;
    const locks = new SendLocks(engine.config.databaseUrl);
    try {
      expect(await deliverReleased(rows[0].id, { config: engine.config, db: engine.db, logger: silentLogger, locks })).toBe('delivered');
    } finally {
      await locks.close();
    }
    expect(t.lmtpSink.messages).toHaveLength(before + 1);
    const got = t.lmtpSink.messages[before]!.raw.toString('latin1');
    expect(got).toMatch(/^X-Crgate-Decision: released/m);
    expect(sha256(got.slice(got.indexOf('DKIM-Signature:')))).toBe(sha256(message));
  });

  it('answers 4xx when the spool file cannot be written, and takes the message when it can', async () => {
    const message = large('retried', 'Friend <friend@signed.test>');
    process.env.TMPDIR = join(spoolDir, 'missing');
    try {
      const refused = await pythonLmtpSend(t.lmtpPort, 'friend@signed.test', ['alice@example.test'], message, { xforward: CLIENT });
      expect(refused.data?.[0]?.[1]).toBe(451);
    } finally {
      process.env.TMPDIR = spoolDir;
    }
    const { rows } = await t.db.query(`SELECT 1 FROM messages WHERE message_id_header = '<retried@signed.test>'`);
    expect(rows).toHaveLength(0);
    // The MTA's retry.
    const accepted = await pythonLmtpSend(t.lmtpPort, 'friend@signed.test', ['alice@example.test'], message, { xforward: CLIENT });
    expect(accepted.data?.[0]?.[1]).toBe(250);
  });

  it('closes the spool file at once when the client goes away in the middle of DATA', async () => {
    /** Open descriptors of this process (the engine runs in it) on files in the spool directory. */
    const spoolFds = async () => {
      const out: string[] = [];
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target.startsWith(spoolDir)) out.push(target);
      }
      return out;
    };
    const socket = net.connect(t.lmtpPort, '127.0.0.1');
    let replies = '';
    socket.on('data', (d: Buffer) => (replies += d.toString()));
    const until = async (re: RegExp) => waitFor(() => re.test(replies), `a reply matching ${re}`);
    await until(/^220 /m);
    socket.write('LHLO mta.test\r\nMAIL FROM:<friend@signed.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n');
    await until(/^354 /m);
    const half = large('cut-off', 'Friend <friend@signed.test>');
    await new Promise<void>((resolve) => socket.write(half, () => resolve()));
    await waitFor(async () => (await spoolFds()).length > 0, 'the spool file opened');
    // Closed by crgate, not by the garbage collector (which warns when it closes a forgotten handle).
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      socket.destroy();
      await waitFor(async () => (await spoolFds()).length === 0, 'the spool file closed', 5000);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /file descriptor|FileHandle/i.test(w))).toEqual([]);
  });

  it('leaves no spool file behind', async () => {
    expect(await readdir(spoolDir)).toEqual([]);
  });
});

describe('a message larger than the spool threshold, delivered to a Maildir', () => {
  it('is written whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crgate-maildir-'));
    const t = await createMailTestEnvironment({ CRGATE_DELIVER_TO: `maildir:${dir}`, CRGATE_LMTP_MAX_SIZE: String(16 * 1024 * 1024) });
    const engine = await startInProcess(t.env, ['ingest']);
    try {
      await addUser(engine.db, 'alice@example.test');
      const alice = await findUserByAddress(engine.db, 'alice@example.test');
      await addListEntry(engine.db, { userId: alice!.id, list: 'white', kind: 'address', value: 'friend@signed.test', source: 'manual' });
      const message = large('maildir', 'Friend <friend@signed.test>');
      const r = await pythonLmtpSend(t.lmtpPort, 'friend@signed.test', ['alice@example.test'], message);
      expect(r.data?.[0]?.[1]).toBe(250);
      const box = join(dir, 'example.test', 'alice', 'Maildir', 'new');
      const files = await readdir(box);
      expect(files).toHaveLength(1);
      const written = (await readFile(join(box, files[0]!))).toString('latin1');
      expect(written.length).toBeGreaterThan(message.length);
      expect(sha256(written.slice(written.length - message.length))).toBe(sha256(message));
    } finally {
      await engine.stop();
      await t.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('kill -9 of the ingest while it spools a large message', () => {
  it('leaves no spool file, and the client got no 250', async () => {
    const spool = await mkdtemp(join(tmpdir(), 'crgate-spool-kill-'));
    const t = await createMailTestEnvironment({ CRGATE_LMTP_MAX_SIZE: String(16 * 1024 * 1024), TMPDIR: spool });
    let engine: EngineProcess | undefined;
    try {
      expect((await runCli(['users', 'add', 'alice@example.test'], t.env)).code).toBe(0);
      engine = await startEngineReady(t.env, ['--role', 'ingest']);
      const socket = net.connect(t.lmtpPort, '127.0.0.1');
      let replies = '';
      socket.on('data', (d) => (replies += d.toString()));
      socket.on('error', () => undefined);
      await waitFor(() => /^220 /m.test(replies), 'the greeting');
      for (const line of ['LHLO mta.test', 'MAIL FROM:<friend@signed.test>', 'RCPT TO:<alice@example.test>', 'DATA']) {
        const seen = replies.length;
        socket.write(`${line}\r\n`);
        await waitFor(() => replies.length > seen && replies.endsWith('\r\n') && /^\d{3} /m.test(replies.slice(seen)), `the reply to ${line}`);
      }
      // More than the threshold, without the final dot: the engine is still receiving it.
      socket.write(large('killed', 'Friend <friend@signed.test>'));
      const fdDir = `/proc/${engine.child.pid}/fd`;
      const spoolFds = async () => {
        const links = await Promise.all((await readdir(fdDir)).map((fd) => readlink(join(fdDir, fd)).catch(() => '')));
        return links.filter((l) => l.startsWith(join(spool, 'crgate-spool-')));
      };
      // The engine holds the spool file open, and it is already gone from the directory.
      await waitFor(async () => (await spoolFds()).length === 1, 'the spool file to be open');
      expect((await spoolFds())[0]).toMatch(/ \(deleted\)$/);
      expect(await readdir(spool)).toEqual([]);
      await engine.kill('SIGKILL');
      socket.destroy();
      expect(await readdir(spool)).toEqual([]);
      expect(replies).not.toMatch(/^250 2\.6\.0/m);
      const { rows } = await t.db.query(`SELECT count(*)::int AS n FROM messages`);
      expect(rows[0].n).toBe(0);
    } finally {
      await engine?.kill('SIGKILL');
      await t.cleanup();
      await rm(spool, { recursive: true, force: true });
    }
  });
});
