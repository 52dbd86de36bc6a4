/**
 * Delivery of accepted and released mail to CRGATE_DELIVER_TO: an LMTP server (Dovecot), an SMTP
 * re-injection port of the MTA, or a Maildir tree. The result is per recipient and keeps the
 * downstream reply code, because the ingest passes a 5xx through and turns everything else into 4xx.
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import MailComposer from 'nodemailer/lib/mail-composer';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { domainOf, type DeliverTarget } from '@crgate/core';

export interface DeliveryResult {
  recipient: string;
  ok: boolean;
  /** The reply code to pass on: 250, a downstream 4xx/5xx, or 451 when downstream could not be reached. */
  code: number;
  message: string;
  /** The downstream reply's enhanced status code (RFC 3463, `5.7.1`), when it gave one. */
  status?: string;
}

/** Bytes in memory, or bytes read from a file each time they are sent (message-spool.ts). */
export type MessagePart = Buffer | { stream(): Readable };

export interface DeliveryRequest {
  mailFrom: string;
  recipients: string[];
  /**
   * The whole message as it will be written, including any header crgate prepends: one Buffer, or
   * parts written one after the other (a prepended header and the original bytes, without copying
   * the original into a new buffer; a large original is read from the ingest's spool file).
   */
  message: Buffer | readonly MessagePart[];
  /** DSN NOTIFY values for every recipient, sent only if the server offers DSN (challenges use NEVER). */
  notify?: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'>;
  /** The most the transaction may take, from MAIL FROM to the last reply (default 8 minutes). */
  deadlineMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long the server may stay silent, above all after the end of the data: that is where a relay or
 * an LMTP server runs its content filters and writes the message, and a client that gives up there
 * sends the message again although the server has it (RFC 5321, 4.5.3.2.6, asks the client to wait 10
 * minutes for that reply, and 5 for MAIL and RCPT). A minute was too short for a relay with a slow
 * milter: the challenge went out twice. Five minutes stays below what Postfix's LMTP client waits for
 * the ingest's own reply at the end of the data (lmtp_data_done_timeout, 600 s).
 */
const SOCKET_TIMEOUT_MS = 300_000;

/**
 * The most that setting a connection up (connect, greeting, EHLO/LHLO) and one mail transaction may take
 * in all. The socket timeout bounds each silence, but a server that trickles a reply a line at a time
 * (a tarpit: a continuation line every 20 s) resets it for ever, and would hold the delivery, with the
 * worker's slot, its send lock and its BullMQ lock, without end: the job would never be retried. The
 * transaction's limit leaves room for the 5-minute wait at the end of the data, and stays below the
 * 600 s Postfix's LMTP client waits for the ingest at the end of the data.
 */
const SETUP_DEADLINE_MS = 60_000;
const TRANSACTION_DEADLINE_MS = 480_000;

/** `work`, or a rejection once `ms` have passed, when the connection is closed. */
function withinDeadline<T>(conn: SMTPConnection, ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} not done within ${Math.round(ms / 1000)} s`));
      conn.close();
    }, ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

function replyCode(err: unknown): number {
  const code = (err as { responseCode?: number }).responseCode;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 451;
}

function replyText(err: unknown): string {
  const e = err as { response?: string; message?: string };
  return (e.response ?? e.message ?? 'delivery failed').replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3} )?/, '').slice(0, 200);
}

/**
 * The enhanced status code of the downstream reply: it says why (`5.7.1` refused by policy, `5.2.2`
 * mailbox full, `5.1.1` no such user), and the MTA writes it into the bounce it sends.
 */
function replyStatus(err: unknown): string | undefined {
  const response = (err as { response?: string }).response;
  return typeof response === 'string' ? /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3}) /.exec(response)?.[1] : undefined;
}

function failed(recipient: string, err: unknown): DeliveryResult {
  const status = replyStatus(err);
  return { recipient, ok: false, code: replyCode(err), message: replyText(err), ...(status ? { status } : {}) };
}

type WireTarget = { kind: 'lmtp' | 'smtp'; host: string; port: number };

const noop = (): void => undefined;

/** Connects and greets; rejects with the reason when the server cannot be reached. */
async function openConnection(target: WireTarget, clientName: string): Promise<SMTPConnection> {
  const conn = new SMTPConnection({
    host: target.host,
    port: target.port,
    lmtp: target.kind === 'lmtp',
    name: clientName,
    ignoreTLS: true,
    connectionTimeout: CONNECT_TIMEOUT_MS,
    greetingTimeout: CONNECT_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    logger: false,
  });
  // An error while nobody waits on the connection (idle in a pool, or closing) must not crash the process.
  conn.on('error', noop);
  if (target.kind === 'lmtp') noteLmtpAcceptances(conn);
  try {
    await withinDeadline(
      conn,
      SETUP_DEADLINE_MS,
      'connection setup',
      new Promise<void>((resolve, reject) => {
        conn.once('error', reject);
        conn.connect(() => {
          conn.removeListener('error', reject);
          resolve();
        });
      }),
    );
  } catch (err) {
    conn.close();
    throw err;
  }
  return conn;
}

/**
 * The recipients an LMTP server has accepted the message for in the current transaction, from its
 * replies after the data. When the server goes away before its last reply (Dovecot's LMTP process dying
 * in a Sieve script), nodemailer fails the whole transaction; without this, a recipient already
 * answered 250 would be answered 451 upstream, and the MTA's retry would put a second copy in that
 * mailbox (RFC 2033 4.2: each reply stands for its recipient). nodemailer hands every per-recipient
 * reply to its `_actionLMTPStream`; if a later version has none, nothing is noted and a drop fails
 * every recipient as before (a duplicate, never a loss).
 */
const lmtpAccepted = new WeakMap<SMTPConnection, Set<string>>();

type LmtpReplyHandler = (this: SMTPConnection, recipient: string, final: boolean, reply: string, callback: unknown) => void;

function noteLmtpAcceptances(conn: SMTPConnection): void {
  const c = conn as unknown as { _actionLMTPStream?: LmtpReplyHandler };
  const handle = c._actionLMTPStream;
  if (typeof handle !== 'function') return;
  const accepted = new Set<string>();
  lmtpAccepted.set(conn, accepted);
  c._actionLMTPStream = function (recipient, final, reply, callback) {
    if (/^2/.test(reply)) accepted.add(String(recipient).toLowerCase());
    return handle.call(this, recipient, final, reply, callback);
  };
}

/**
 * One mail transaction on an open connection. `reusable` is true only when it ended cleanly with every
 * recipient accepted: after anything else the connection is closed, not kept.
 */
async function sendOn(conn: SMTPConnection, req: DeliveryRequest): Promise<{ results: DeliveryResult[]; reusable: boolean }> {
  let onError: ((err: Error) => void) | undefined;
  const acceptedAfterData = lmtpAccepted.get(conn);
  acceptedAfterData?.clear();
  try {
    const info = await withinDeadline(
      conn,
      req.deadlineMs ?? TRANSACTION_DEADLINE_MS,
      'mail transaction',
      new Promise<{ rejectedErrors?: unknown[]; accepted: unknown[] }>((resolve, reject) => {
        onError = reject;
        conn.on('error', onError);
        conn.send({ from: req.mailFrom, to: req.recipients, ...(req.notify ? { dsn: { notify: req.notify } } : {}) } as never, messageBody(req.message) as never, (err, result) => (err ? reject(err) : resolve(result as never)));
      }),
    );
    const failures = new Map<string, unknown>();
    for (const e of info.rejectedErrors ?? []) failures.set(String((e as { recipient?: string }).recipient).toLowerCase(), e);
    const results = req.recipients.map((recipient) => {
      const e = failures.get(recipient.toLowerCase());
      return e ? failed(recipient, e) : { recipient, ok: true, code: 250, message: 'delivered' };
    });
    return { results, reusable: failures.size === 0 };
  } catch (err) {
    // Recipients the server refused one by one keep their own reply; and an LMTP server that went away
    // after accepting the message for some recipients (acceptedAfterData) has delivered it to those.
    const rejected = (err as { rejectedErrors?: unknown[] }).rejectedErrors ?? [];
    const failures = new Map(rejected.map((e) => [String((e as { recipient?: string }).recipient).toLowerCase(), e]));
    const results = req.recipients.map((recipient): DeliveryResult => {
      const key = recipient.toLowerCase();
      return acceptedAfterData?.has(key) ? { recipient, ok: true, code: 250, message: 'delivered' } : failed(recipient, failures.get(key) ?? err);
    });
    return { results, reusable: false };
  } finally {
    if (onError) conn.removeListener('error', onError);
  }
}

/** Slices handed to the SMTP client at a time: its dot-stuffing then copies a slice, not the message. */
const SEND_SLICE = 256 * 1024;

async function* slices(parts: readonly MessagePart[]): AsyncGenerator<Buffer> {
  for (const part of parts) {
    if (Buffer.isBuffer(part)) for (let i = 0; i < part.length; i += SEND_SLICE) yield part.subarray(i, i + SEND_SLICE);
    else for await (const chunk of part.stream()) yield chunk as Buffer;
  }
}

/** What nodemailer is given: a small message as it is, a large one or parts as a stream of slices. */
function messageBody(message: DeliveryRequest['message']): Buffer | Readable {
  const parts = Buffer.isBuffer(message) ? [message] : message;
  if (parts.every((p): p is Buffer => Buffer.isBuffer(p))) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (size <= SEND_SLICE) return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  }
  return Readable.from(slices(parts), { objectMode: false });
}

function unreachable(target: WireTarget, req: DeliveryRequest, err: unknown): DeliveryResult[] {
  const message = `downstream ${target.kind}://${target.host}:${target.port} unreachable: ${(err as Error).message}`;
  return req.recipients.map((recipient) => ({ recipient, ok: false, code: 451, message }));
}

async function deliverOverWire(target: WireTarget, req: DeliveryRequest, clientName: string): Promise<DeliveryResult[]> {
  let conn: SMTPConnection;
  try {
    conn = await openConnection(target, clientName);
  } catch (err) {
    return unreachable(target, req, err);
  }
  try {
    return (await sendOn(conn, req)).results;
  } finally {
    conn.quit();
  }
}

interface Pooled {
  conn: SMTPConnection;
  openedAt: number;
  idleTimer?: NodeJS.Timeout;
  onEnd?: () => void;
}

/** How long an idle connection is kept (Postfix's smtp_connection_cache_time_limit is 2 s). */
const POOL_IDLE_MS = 2_000;
/** A connection is not reused after this long (Postfix's smtp_connection_reuse_time_limit is 300 s). */
const POOL_MAX_AGE_MS = 300_000;
/** At most this many idle connections per downstream. */
const POOL_MAX_IDLE = 32;

/**
 * Connections to the downstream LMTP/SMTP server kept open between deliveries, as Postfix's connection
 * cache does: a connection that finished a transaction cleanly waits up to 2 s for the next one, which
 * saves the connect, greeting, LHLO and QUIT of every delivered message (a TCP connection per delivery
 * was 2–3 % of the ingest's CPU, docs/performance.md). A connection the server closed while idle is
 * dropped before use; one that fails in use is closed, and the message answered as before (451 unless
 * the server said otherwise), so reuse never turns a failure into a loss or a second copy.
 */
export class DeliveryPool {
  private readonly idle = new Map<string, Pooled[]>();
  private closed = false;

  async deliver(target: DeliverTarget, req: DeliveryRequest, clientName = 'crgate.localdomain'): Promise<DeliveryResult[]> {
    if (target.kind === 'maildir' || this.closed) return deliver(target, req, clientName);
    const key = `${target.kind}://${target.host}:${target.port}/${clientName}`;
    let pooled = this.take(key);
    if (!pooled) {
      try {
        pooled = { conn: await openConnection(target, clientName), openedAt: Date.now() };
      } catch (err) {
        return unreachable(target, req, err);
      }
    }
    const { results, reusable } = await sendOn(pooled.conn, req);
    if (reusable) this.put(key, pooled);
    else pooled.conn.close();
    return results;
  }

  /** Closes every idle connection; later deliveries open and close their own. */
  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const p of list) this.drop(p);
    this.idle.clear();
  }

  private take(key: string): Pooled | undefined {
    const list = this.idle.get(key);
    while (list?.length) {
      const p = list.pop()!;
      clearTimeout(p.idleTimer);
      if (p.onEnd) p.conn.removeListener('end', p.onEnd);
      if (!(p.conn as unknown as { destroyed?: boolean }).destroyed) return p;
    }
    return undefined;
  }

  private put(key: string, p: Pooled): void {
    const list = this.idle.get(key) ?? [];
    if (this.closed || list.length >= POOL_MAX_IDLE || Date.now() - p.openedAt > POOL_MAX_AGE_MS) {
      this.drop(p);
      return;
    }
    list.push(p);
    this.idle.set(key, list);
    const remove = () => {
      const i = list.indexOf(p);
      if (i >= 0) list.splice(i, 1);
    };
    p.onEnd = remove;
    p.conn.once('end', remove);
    p.idleTimer = setTimeout(() => {
      remove();
      this.drop(p);
    }, POOL_IDLE_MS).unref();
  }

  private drop(p: Pooled): void {
    clearTimeout(p.idleTimer);
    p.conn.quit();
  }
}

let maildirCounter = 0;

/** Writes into DIR/<domain>/<user>/Maildir/new through tmp/ with fsync, as the Maildir protocol asks. */
async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function deliverToMaildir(dir: string, req: DeliveryRequest): Promise<DeliveryResult[]> {
  const results: DeliveryResult[] = [];
  for (const recipient of req.recipients) {
    const at = recipient.lastIndexOf('@');
    const user = recipient.slice(0, at).toLowerCase().replace(/[/\\\0]/g, '_');
    const domain = domainOf(recipient).replace(/[/\\\0]/g, '_');
    const base = join(dir, domain, user, 'Maildir');
    const name = `${Date.now()}.P${process.pid}Q${++maildirCounter}R${randomBytes(6).toString('hex')}.${hostname()}`;
    const tmp = join(base, 'tmp', name);
    try {
      for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(base, sub), { recursive: true });
      const fh = await open(tmp, 'wx', 0o600);
      try {
        for await (const chunk of slices(Buffer.isBuffer(req.message) ? [req.message] : req.message)) await fh.write(chunk);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(base, 'new', name));
      // The rename is durable only once the directory is: 250 means the message survives a power cut.
      await syncDirectory(join(base, 'new'));
      results.push({ recipient, ok: true, code: 250, message: 'delivered to Maildir' });
    } catch (err) {
      // A half-written file in tmp/ is nobody's mail: the MTA sends the message again.
      await unlink(tmp).catch(() => undefined);
      results.push({ recipient, ok: false, code: 451, message: `Maildir write failed: ${(err as Error).message}` });
    }
  }
  return results;
}

export function deliver(target: DeliverTarget, req: DeliveryRequest, clientName = 'crgate.localdomain'): Promise<DeliveryResult[]> {
  if (target.kind === 'maildir') return deliverToMaildir(target.dir, req);
  return deliverOverWire(target, req, clientName);
}

/** The header crgate adds to mail it delivers, naming its decision and reasons. */
export function decisionHeader(action: string, symbols: string[], extra?: string): string {
  const value = `${action}${symbols.length ? `; reasons=${symbols.join(',')}` : ''}${extra ? `; ${extra}` : ''}`;
  return `X-Crgate-Decision: ${value.replace(/[\r\n]+/g, ' ')}\r\n`;
}

/** Builds a message crgate itself sends (challenge, sign-in link, digest) into its raw bytes. */
export function composeMail(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new Promise((resolve, reject) => new MailComposer(mail).compile().build((err, buf) => (err ? reject(err) : resolve(buf))));
}
