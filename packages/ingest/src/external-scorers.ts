/**
 * Optional second opinions on a message's content: SpamAssassin's spamd (its own TCP protocol) and
 * rspamd (HTTP `/checkv2`). Each is asked only when configured, with a deadline; a scorer that is
 * down, slow or answers nonsense is left out of the decision (and logged), never a reason to fail
 * the delivery: crgate then decides on its own filter alone, as it would without the scorer.
 *
 * What the answers mean for the decision is a pure rule in core (external-scores.ts); this file only
 * talks the protocols.
 */
import { connect } from 'node:net';
import type { Config, ExternalScore, Listen, Logger } from '@crgate/core';

export interface ScoringEnvelope {
  mailFrom: string;
  recipients: readonly string[];
  clientAddress?: string;
  clientHelo?: string;
}

export class ScorerError extends Error {}

/** Bytes sent to a scorer: both daemons skip larger mail by default, and the verdict is in the first part. */
export const MAX_SCORED_BYTES = 512 * 1024;

/**
 * Asks spamd for a verdict with the SYMBOLS command of the SPAMC/1.5 protocol (what `spamc -y`
 * sends): the answer carries `Spam: True ; 6.2 / 5.0` and the names of the rules that hit.
 */
export function askSpamd({ host, port }: Listen, raw: Buffer, timeoutMs: number, spamScore?: number): Promise<ExternalScore> {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const body = raw.subarray(0, MAX_SCORED_BYTES);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port });
    const fail = (err: Error) => {
      socket.destroy();
      reject(err instanceof ScorerError ? err : new ScorerError(`spamd ${address}: ${err.message}`));
    };
    socket.setTimeout(timeoutMs, () => fail(new ScorerError(`spamd ${address}: no answer within ${timeoutMs} ms`)));
    socket.on('error', fail);
    socket.on('connect', () => {
      socket.write(`SYMBOLS SPAMC/1.5\r\nContent-length: ${body.length}\r\n\r\n`);
      socket.end(body);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      try {
        resolve(parseSpamdReply(Buffer.concat(chunks).toString('latin1'), spamScore));
      } catch (err) {
        fail(err as Error);
      }
    });
  });
}

/**
 * Parses spamd's reply to SYMBOLS; throws a ScorerError for anything but a complete EX_OK answer.
 * `spamScore` is the score from which the answer counts as a spam vote; SpamAssassin's own
 * required_score (5 by default) is its level for *tagging* spam, not for being sure of it.
 */
export function parseSpamdReply(text: string, spamScore?: number): ExternalScore {
  const [head = '', rules = ''] = text.split(/\r\n\r\n/, 2);
  const lines = head.split('\r\n');
  const status = /^SPAMD\/\d+\.\d+ (\d+) (\S+)/.exec(lines[0] ?? '');
  if (!status) throw new ScorerError(`spamd: unexpected reply "${(lines[0] ?? '').slice(0, 80)}"`);
  if (status[1] !== '0') throw new ScorerError(`spamd: error ${status[1]} ${status[2]}`);
  const spam = lines.map((l) => /^Spam: *(True|False|Yes|No) *; *(-?[\d.]+) *\/ *(-?[\d.]+)/i.exec(l)).find(Boolean);
  if (!spam) throw new ScorerError('spamd: reply without a Spam: line');
  const score = Number(spam[2]);
  const threshold = spamScore ?? Number(spam[3]);
  const symbols = rules.split(',').map((s) => s.trim()).filter(Boolean);
  return { scorer: 'spamassassin', score, threshold, spam: score >= threshold, symbols };
}

/**
 * Asks rspamd's normal worker (`/checkv2`), passing the envelope as rspamd's HTTP headers so its SPF
 * and other envelope checks see what the MTA saw.
 */
export async function askRspamd(url: string, raw: Buffer, envelope: ScoringEnvelope, timeoutMs: number, password?: string): Promise<ExternalScore> {
  const headers: Record<string, string> = { 'Content-Type': 'message/rfc822' };
  if (envelope.mailFrom) headers.From = envelope.mailFrom;
  if (envelope.clientAddress) headers.IP = envelope.clientAddress;
  if (envelope.clientHelo) headers.Helo = envelope.clientHelo;
  if (password) headers.Password = password;
  const target = new URL('checkv2', url.endsWith('/') ? url : `${url}/`);
  const rcpt = envelope.recipients.map((r) => ['Rcpt', r] as [string, string]);
  let res: Response;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers: [...Object.entries(headers), ...rcpt],
      body: raw.subarray(0, MAX_SCORED_BYTES),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message;
    throw new ScorerError(`rspamd ${target.origin}: ${reason}`);
  }
  if (!res.ok) throw new ScorerError(`rspamd ${target.origin}: HTTP ${res.status}`);
  return parseRspamdReply(await res.json().catch(() => undefined));
}

/** rspamd's actions from mild to severe (`add header` tags, `reject` refuses); only `reject` is "surely spam". */
const RSPAMD_SPAM_ACTIONS = new Set(['reject']);

export function parseRspamdReply(json: unknown): ExternalScore {
  const r = json as { score?: unknown; required_score?: unknown; action?: unknown; symbols?: unknown } | undefined;
  if (!r || typeof r.score !== 'number' || typeof r.action !== 'string') throw new ScorerError('rspamd: reply without score and action');
  // `is_skipped` answers (GTUBE, a message over rspamd's size limit) still carry the action to take.
  const threshold = typeof r.required_score === 'number' ? r.required_score : 15;
  const symbols = r.symbols && typeof r.symbols === 'object' ? Object.keys(r.symbols) : [];
  return { scorer: 'rspamd', score: r.score, threshold, spam: RSPAMD_SPAM_ACTIONS.has(r.action) || r.score >= threshold, symbols, action: r.action };
}

/** The configured scorers, asked at once; the answers that came back in time, in a fixed order. */
export class ExternalScorers {
  constructor(
    private readonly config: Config['scorers'],
    private readonly logger: Logger,
  ) {}

  get configured(): boolean {
    return Boolean(this.config.spamd || this.config.rspamd);
  }

  async score(raw: Buffer, envelope: ScoringEnvelope): Promise<ExternalScore[]> {
    const asks: Array<Promise<ExternalScore>> = [];
    if (this.config.spamd) asks.push(askSpamd(this.config.spamd, raw, this.config.timeoutMs, this.config.spamdSpamScore));
    if (this.config.rspamd) asks.push(askRspamd(this.config.rspamd, raw, envelope, this.config.timeoutMs, this.config.rspamdPassword));
    const settled = await Promise.allSettled(asks);
    const scores: ExternalScore[] = [];
    for (const s of settled) {
      if (s.status === 'fulfilled') scores.push(s.value);
      else this.logger.warn({ event: 'scorer.failed', err: (s.reason as Error).message }, 'an external scorer did not answer; deciding without it');
    }
    return scores;
  }
}
