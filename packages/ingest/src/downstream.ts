/**
 * Delivery of accepted and released mail to CRGATE_DELIVER_TO: an LMTP server (Dovecot), an SMTP
 * re-injection port of the MTA, or a Maildir tree. The result is per recipient and keeps the
 * downstream reply code, because the ingest passes a 5xx through and turns everything else into 4xx.
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import MailComposer from 'nodemailer/lib/mail-composer';
import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { domainOf, type DeliverTarget } from '@crgate/core';

export interface DeliveryResult {
  recipient: string;
  ok: boolean;
  /** The reply code to pass on: 250, a downstream 4xx/5xx, or 451 when downstream could not be reached. */
  code: number;
  message: string;
}

export interface DeliveryRequest {
  mailFrom: string;
  recipients: string[];
  /** The whole message as it will be written, including any header crgate prepends. */
  message: Buffer;
  /** DSN NOTIFY values for every recipient, sent only if the server offers DSN (challenges use NEVER). */
  notify?: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'>;
}

const CONNECT_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 60_000;

function replyCode(err: unknown): number {
  const code = (err as { responseCode?: number }).responseCode;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 451;
}

function replyText(err: unknown): string {
  const e = err as { response?: string; message?: string };
  return (e.response ?? e.message ?? 'delivery failed').replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3} )?/, '').slice(0, 200);
}

async function deliverOverWire(
  target: { kind: 'lmtp' | 'smtp'; host: string; port: number },
  req: DeliveryRequest,
  clientName: string,
): Promise<DeliveryResult[]> {
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
  const all = (code: number, message: string) => req.recipients.map((recipient) => ({ recipient, ok: code < 400, code, message }));
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.connect(() => {
        conn.removeListener('error', reject);
        resolve();
      });
    });
  } catch (err) {
    conn.close();
    return all(451, `downstream ${target.kind}://${target.host}:${target.port} unreachable: ${(err as Error).message}`);
  }
  try {
    const info = await new Promise<{ rejectedErrors?: unknown[]; accepted: unknown[] }>((resolve, reject) => {
      conn.on('error', reject);
      conn.send({ from: req.mailFrom, to: req.recipients, ...(req.notify ? { dsn: { notify: req.notify } } : {}) } as never, req.message, (err, result) => (err ? reject(err) : resolve(result as never)));
    });
    const failures = new Map<string, unknown>();
    for (const e of info.rejectedErrors ?? []) failures.set(String((e as { recipient?: string }).recipient).toLowerCase(), e);
    return req.recipients.map((recipient) => {
      const e = failures.get(recipient.toLowerCase());
      return e
        ? { recipient, ok: false, code: replyCode(e), message: replyText(e) }
        : { recipient, ok: true, code: 250, message: 'delivered' };
    });
  } catch (err) {
    const rejected = (err as { rejectedErrors?: unknown[] }).rejectedErrors;
    if (rejected?.length) {
      const failures = new Map(rejected.map((e) => [String((e as { recipient?: string }).recipient).toLowerCase(), e]));
      return req.recipients.map((recipient) => {
        const e = failures.get(recipient.toLowerCase()) ?? err;
        return { recipient, ok: false, code: replyCode(e), message: replyText(e) };
      });
    }
    return all(replyCode(err), replyText(err));
  } finally {
    conn.quit();
  }
}

let maildirCounter = 0;

/** Writes into DIR/<domain>/<user>/Maildir/new through tmp/ with fsync, as the Maildir protocol asks. */
async function deliverToMaildir(dir: string, req: DeliveryRequest): Promise<DeliveryResult[]> {
  const results: DeliveryResult[] = [];
  for (const recipient of req.recipients) {
    const at = recipient.lastIndexOf('@');
    const user = recipient.slice(0, at).toLowerCase().replace(/[/\\\0]/g, '_');
    const domain = domainOf(recipient).replace(/[/\\\0]/g, '_');
    const base = join(dir, domain, user, 'Maildir');
    const name = `${Date.now()}.P${process.pid}Q${++maildirCounter}R${randomBytes(6).toString('hex')}.${hostname()}`;
    try {
      for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(base, sub), { recursive: true });
      const tmp = join(base, 'tmp', name);
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(req.message);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(base, 'new', name));
      results.push({ recipient, ok: true, code: 250, message: 'delivered to Maildir' });
    } catch (err) {
      results.push({ recipient, ok: false, code: 451, message: `Maildir write failed: ${(err as Error).message}` });
    }
  }
  return results;
}

export function deliver(target: DeliverTarget, req: DeliveryRequest, clientName = 'crgate.localdomain'): Promise<DeliveryResult[]> {
  if (target.kind === 'maildir') return deliverToMaildir(target.dir, req);
  return deliverOverWire(target, req, clientName);
}

/** Prepends header lines (already folded, CRLF-terminated) without touching a byte of the original. */
export function prependHeaders(raw: Buffer, lines: string[]): Buffer {
  return Buffer.concat([Buffer.from(lines.join(''), 'utf8'), raw]);
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
