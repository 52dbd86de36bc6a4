/**
 * The LMTP ingest. Behind the MTA it answers RCPT for known users only (550 for others, so the MTA can
 * refuse unknown recipients during its own SMTP conversation), and after DATA gives one reply per
 * recipient: 250 only once that recipient's copy is delivered downstream or committed to PostgreSQL.
 * Any internal failure is a 4xx, so the MTA keeps the message and retries.
 */
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { CrgateError, normalizeAddress, reasonSymbols, senderAuthenticated, toReplyError, withAsciiDomain, type Config, type Decision, type Logger } from '@crgate/core';
import { findUserByAddress, Metrics, recordMessage, type Db, type RecipientOutcome, type User } from '@crgate/store';
import { createDecisionPipeline, type PipelineResult } from './decision-pipeline.js';
import type { ContentCheck } from './content-check.js';
import { handleTapCopy, isTrustedPeer, type TapOutcome } from './outgoing-tap.js';
import type { ResolveFn } from './dns-resolver.js';
import { decisionHeader, DeliveryPool, type DeliveryResult } from './downstream.js';
import { SPOOL_ABOVE_BYTES, SpooledMessage, type IncomingMessage, type SpoolWriter } from './message-spool.js';
import { withoutClaimedTraceFields } from './trace-fields.js';

/** Below this score, delivered ham is not trained: the filter already knows it (see learnFromOutcome). */
const ALREADY_HAM_SCORE = 0.01;

export interface IngestDeps {
  db: Db;
  logger: Logger;
  secret: string;
  now?: () => Date;
  /** DNS for authentication and sender checks; built from config.dns when not given. */
  resolver?: ResolveFn;
  metrics?: Metrics;
}

export interface Ingest {
  start(): Promise<AddressInfo>;
  stop(): Promise<void>;
  /** null when accepting mail; otherwise why not. */
  ready(): Promise<string | null>;
}

/** The user found at RCPT time rides along on smtp-server's address object until DATA. */
type RcptAddress = SMTPServerAddress & { crgateUser?: User; crgateTap?: boolean };
/** smtp-server's envelope, new for every transaction, with the client this transaction was forwarded for. */
type TransactionEnvelope = SMTPServerSession['envelope'] & { crgateClient?: { address?: string; helo?: string } };

/**
 * The client address and HELO the MTA forwarded (XFORWARD) for this transaction, taken at MAIL FROM.
 * smtp-server keeps XFORWARD values for the whole connection, but Postfix sends them for each message
 * and leaves out what it does not know (a local submission has no client address): on a connection it
 * reuses, the previous message's client would otherwise be checked for this one. Taken, they are
 * cleared; ADDR:DEFAULT, the real peer, stays.
 */
function takeForwardedClient(session: SMTPServerSession): void {
  const forwarded = session.xForward;
  const address = forwarded?.get('ADDR');
  const helo = forwarded?.get('HELO');
  (session.envelope as TransactionEnvelope).crgateClient = {
    address: typeof address === 'string' && address ? address : undefined,
    helo: typeof helo === 'string' && helo ? helo : undefined,
  };
  forwarded?.delete('ADDR');
  forwarded?.delete('HELO');
}

/**
 * smtp-server rewrites the domain of every envelope address into Unicode (`jo@xn--mnchen-3ya.test`
 * becomes `jo@münchen.test`). Written back in A-labels, the address is again one the MTA could have
 * sent without SMTPUTF8, and so are the delivery downstream and a challenge to the sender: a server
 * that does not offer SMTPUTF8 must not be given a UTF-8 domain (RFC 6531). A UTF-8 local part stays.
 */
function asciiDomain(address: SMTPServerAddress): void {
  address.address = withAsciiDomain(address.address);
}

type Reply = true | string | Error;

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

function replyFor(err: CrgateError): Error {
  return smtpError(err.responseCode, err.message);
}

/** A reply text that brings its own enhanced status code (RFC 3463): `5.7.1 Rejected by Sieve`. */
const OWN_STATUS = /^([245])\.\d{1,3}\.\d{1,3} /;

/**
 * smtp-server puts in front of every error reply the enhanced status code it associates with the
 * reply code (550 becomes `5.1.1`, "no such mailbox"; 554 `5.6.0`), and cannot be given another. A
 * downstream refusal passed through keeps the downstream server's code instead, written at the start
 * of its text: the MTA copies it into the bounce, where a `5.1.1` in place of Dovecot's `5.7.1` would
 * tell the sender (and a list manager, which then unsubscribes the address) that the mailbox does not exist.
 */
function keepOwnStatusCodes(server: SMTPServer): void {
  type Connection = { send(code: number, data?: unknown, context?: unknown): void };
  const connections = (server as unknown as { connections?: Set<Connection> }).connections;
  // smtp-server's own set of connections (pinned version); should a later one lack it, replies keep
  // smtp-server's default codes rather than the ingest failing to start.
  if (!(connections instanceof Set)) return;
  const add = connections.add.bind(connections);
  connections.add = (conn: Connection) => {
    const send = conn.send.bind(conn);
    conn.send = (code, data, context) => {
      const own = context === undefined && code >= 400 && typeof data === 'string' ? OWN_STATUS.exec(data) : null;
      send(code, data, own && own[1] === String(code)[0] ? false : context);
    };
    return add(conn);
  };
}

export function createIngest(config: Config, deps: IngestDeps): Ingest {
  const log = deps.logger.child({ component: 'ingest' });
  const now = deps.now ?? (() => new Date());
  const publicHost = new URL(config.publicUrl).hostname;
  const pipeline = createDecisionPipeline(config, { db: deps.db, resolver: deps.resolver, logger: log });
  let stopping = false;

  const metrics = deps.metrics ?? new Metrics();
  const downstream = new DeliveryPool();
  let listening = false;
  const tapAddress = config.tap.address ? normalizeAddress(config.tap.address) : undefined;

  async function onRcptTo(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    if (stopping) throw smtpError(421, 'Shutting down, try again later');
    asciiDomain(address);
    // smtp-server keeps one slot for an address given twice (in any case) and so sends one reply too
    // few after DATA, which shifts every later recipient's reply onto the wrong address. The MTA sends
    // the repeat again in a transaction of its own, where it is answered "already accepted".
    const key = address.address.toLowerCase();
    if (session.envelope.rcptTo.some((r) => r.address.toLowerCase() === key)) {
      throw smtpError(452, 'Recipient already given in this transaction; send it again in another');
    }
    if (tapAddress && normalizeAddress(address.address) === tapAddress) {
      // The peer that connected, not the client it forwards for: only our MTA may feed the tap.
      const peer = String(session.xForward?.get('ADDR:DEFAULT') ?? session.remoteAddress);
      if (!isTrustedPeer(peer, config.tap.trustedClients)) {
        // The MTA bounces the copy to the user; crgate's log is where the operator learns the tap is miswired.
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const reason = `peer ${peer} is not one of tap.trustedClients`;
        log.warn({ event: 'tap.ignored', session: session.id, mailFrom, peer, reason }, `outgoing copy refused: ${reason}`);
        throw smtpError(550, 'The outgoing tap does not accept mail from this client');
      }
      (address as RcptAddress).crgateTap = true;
      return;
    }
    let user: User | undefined;
    try {
      user = await findUserByAddress(deps.db, address.address);
    } catch (err) {
      log.error({ event: 'ingest.rcpt_lookup_failed', err }, 'user lookup failed');
      throw replyFor(toReplyError(err));
    }
    if (!user) throw smtpError(550, `No such user here: ${address.address}`);
    (address as RcptAddress).crgateUser = user;
  }

  /**
   * What the ingest itself is sure of trains the recipient's model: mail delivered because the
   * recipient vouched for the sender (whitelist, a reply to their own mail) is ham; mail discarded as
   * sure spam is spam, weighted lower so the filter does not just confirm itself. Ham the filter
   * already scores as surely ham teaches it nothing new and is not trained ("train on error or
   * uncertainty"): that spares the busiest write of the ingest, the token rows of every whitelisted
   * delivery (docs/performance.md). Ham is learned only from a sender shown real (SPF pass or an
   * aligned DKIM signature): a whitelist delivers some unverified mail too (a softfail), and a
   * forgery learned as ham would let the forger's next spam through without a challenge.
   */
  function learnFromOutcome(
    content: ContentCheck,
    tokens: string[],
    key: string,
    authentic: boolean,
    decisions: Map<number, Decision>,
    deliveries: Map<number, DeliveryResult>,
    stored: Map<number, Decision> | undefined,
  ): void {
    for (const [userId, decision] of decisions) {
      const symbols = decision.reasons.map((r) => r.symbol);
      const known = content?.verdicts.get(userId);
      const alreadyHam = known?.verdict === 'ham' && known.score < ALREADY_HAM_SCORE;
      if (authentic && !alreadyHam && deliveries.get(userId)?.ok && symbols.some((s) => s === 'WHITELIST_ADDRESS' || s === 'WHITELIST_DOMAIN' || s === 'REPLY_TO_SENT')) {
        pipeline.content.learnLater(userId, key, tokens, 'ham', 1, 'delivered from a vouched-for sender');
      } else if (stored?.get(userId)?.action === 'discard' && symbols.includes('CONTENT_SPAM')) {
        pipeline.content.learnLater(userId, key, tokens, 'spam', 0.5, 'discarded as sure spam');
      }
    }
  }

  function countDecision(d: Decision): void {
    metrics.decisions.inc({ decision: d.action });
    // Copies per reason: a symbol given twice (both external scorers voting spam) counts once.
    for (const symbol of new Set(d.reasons.map((r) => r.symbol))) metrics.reasons.inc({ reason: symbol });
  }

  /**
   * The message as one Buffer, written once. With the MTA's SIZE estimate (Postfix sends it) the bytes
   * go straight into a buffer of that size; collecting chunks and concatenating them held two copies of
   * a large message at once (docs/performance.md). A buffer from allocUnsafe costs memory only where it
   * is written, so an estimate that is too high costs address space, not RSS; one too low, or none,
   * falls back to growing. Past SPOOL_ABOVE_BYTES (or announced as larger) the message goes to a spool
   * file instead, and only its head stays in memory (message-spool.ts).
   */
  async function readMessage(stream: SMTPServerDataStream, sizeHint: number): Promise<IncomingMessage | undefined> {
    const hint = Number.isSafeInteger(sizeHint) && sizeHint > 0 ? Math.min(sizeHint, config.lmtp.maxSize) : 0;
    let spool: SpoolWriter | undefined;
    let buf = hint && hint <= SPOOL_ABOVE_BYTES ? Buffer.allocUnsafe(hint + (hint >> 6) + 65_536) : undefined;
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    let size = 0;
    // A spool file that cannot be written (disk full) fails the message with a 4xx, but only after the
    // rest of the DATA is read: smtp-server answers once the stream has ended.
    let failed: unknown;
    const keep = async (c: Buffer): Promise<void> => {
      if (!spool && (hint > SPOOL_ABOVE_BYTES || size + c.length > SPOOL_ABOVE_BYTES)) {
        spool = await SpooledMessage.begin(buf ? [buf.subarray(0, size)] : chunks);
        buf = undefined;
        chunks.length = 0;
      }
      if (spool) return spool.append(c);
      if (buf && size + c.length > buf.length) {
        // The estimate was too low: keep what is there as one chunk and collect the rest.
        chunks.push(buf.subarray(0, size));
        buf = undefined;
      }
      if (buf) c.copy(buf, size);
      else chunks.push(c);
    };
    try {
      for await (const chunk of stream) {
        // Past the limit smtp-server answers 552 itself; stop keeping bytes so memory stays bounded.
        if (stream.sizeExceeded || failed) continue;
        const c = chunk as Buffer;
        hash.update(c);
        await keep(c).catch((err: unknown) => (failed = err));
        size += c.length;
      }
    } catch (err) {
      // The client went away mid-DATA: close the spool file now, not whenever the GC gets to it.
      await spool?.discard().catch(() => undefined);
      throw err;
    }
    if (stream.sizeExceeded || failed) {
      await spool?.discard().catch(() => undefined);
      if (failed) throw failed;
      return undefined;
    }
    const sha256 = hash.digest('hex');
    if (spool) {
      const spooled = spool.finish();
      return { head: spooled.head, size, sha256, spooled };
    }
    return { head: buf ? buf.subarray(0, size) : Buffer.concat(chunks, size), size, sha256 };
  }

  /**
   * The copies being decided at this moment, by (SHA-256 of the bytes, user), and the attempt deciding
   * each. A client that gave up waiting and sent the same message again on another connection would
   * otherwise have it decided twice at once: neither attempt finds the other's copy before it commits,
   * so both store it, or both deliver it. The second attempt waits for the first, then finds its copy
   * ("already accepted"), or decides afresh if the first stored nothing.
   */
  const inProgress = new Map<string, Promise<void>>();

  async function claimCopies(sha256: string, userIds: number[]): Promise<() => void> {
    const keys = userIds.map((id) => `${sha256}/${id}`);
    for (;;) {
      const earlier = keys.flatMap((k) => inProgress.get(k) ?? []);
      if (!earlier.length) break;
      await Promise.all(earlier);
    }
    let finished!: () => void;
    const attempt = new Promise<void>((resolve) => (finished = resolve));
    for (const k of keys) inProgress.set(k, attempt);
    return () => {
      for (const k of keys) if (inProgress.get(k) === attempt) inProgress.delete(k);
      finished();
    };
  }

  async function processMessage(message: IncomingMessage, session: SMTPServerSession): Promise<Reply[]> {
    const userIds = new Set((session.envelope.rcptTo as RcptAddress[]).flatMap((r) => r.crgateUser?.id ?? []));
    const release = await claimCopies(message.sha256, [...userIds]);
    try {
      return await decideAndRecord(message, session);
    } finally {
      release();
    }
  }

  async function decideAndRecord(message: IncomingMessage, session: SMTPServerSession): Promise<Reply[]> {
    const rcpts = session.envelope.rcptTo as RcptAddress[];
    const { head, sha256, spooled } = message;
    const mailFromRaw = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    // One decision per user: an alias and its primary address in one envelope get one copy.
    const users = new Map<number, User>();
    for (const r of rcpts) if (r.crgateUser) users.set(r.crgateUser.id, r.crgateUser);
    const traceId = randomUUID();
    const sessionLog = log.child({ session: session.id, trace: traceId });
    let tap: TapOutcome | Error | undefined;
    if (rcpts.some((r) => r.crgateTap)) {
      tap = await handleTapCopy(deps.db, head, mailFromRaw, sessionLog, pipeline.content, sha256).catch((err: unknown) => {
        sessionLog.error({ event: 'tap.failed', err }, 'could not record the outgoing copy');
        return replyFor(toReplyError(err));
      });
    }
    const client = (session.envelope as TransactionEnvelope).crgateClient;
    // The peer that connected, not the client it forwards for (as for the tap).
    const peer = String(session.xForward?.get('ADDR:DEFAULT') ?? session.remoteAddress);
    const envelope = { mailFrom: mailFromRaw, clientAddress: client?.address, clientHelo: client?.helo, fromTrustedMta: isTrustedPeer(peer, config.tap.trustedClients) };
    const { facts, auth, decisions, content, recentCopies: already }: PipelineResult = users.size
      ? await pipeline.decideFor(head, envelope, [...users.values()], sessionLog, { sha256, rest: spooled && (() => spooled.stream(head.length)) })
      : { facts: { mailFrom: mailFromRaw, headers: new Map() }, decisions: new Map(), recentCopies: new Map() };
    // A retry of a message we already accepted (our 250 was lost) is answered, not stored again. The
    // pipeline found those copies in its one lookup; their new decisions are dropped.
    for (const userId of already.keys()) {
      users.delete(userId);
      decisions.delete(userId);
    }
    const msgLog = sessionLog.child({ messageId: facts.messageId, mailFrom: facts.mailFrom });

    // Deliver what is to be delivered first: its reply depends on the downstream server alone.
    const deliveries = new Map<number, DeliveryResult>();
    const toDeliver = [...users.values()].filter((u) => decisions.get(u.id)!.action === 'deliver');
    const byHeader = new Map<string, User[]>();
    for (const u of toDeliver) {
      const d = decisions.get(u.id)!;
      const header = decisionHeader(d.action, d.reasons.map((r) => r.symbol));
      byHeader.set(header, [...(byHeader.get(header) ?? []), u]);
    }
    // What the mailbox gets after crgate's own header: the message as sent, less fields forged in our
    // name. Looked for only when something is delivered now, not for every held message.
    const original = byHeader.size
      ? withoutClaimedTraceFields(head, (offset) => (spooled ? { stream: () => spooled.stream(offset) } : head.subarray(offset)), config.lmtp.hostname)
      : [];
    await Promise.all(
      [...byHeader].map(async ([header, group]) => {
        const rcptOf = (u: User) =>
          config.deliverTo.kind === 'maildir' ? u.address : (rcpts.find((r) => r.crgateUser?.id === u.id)?.address ?? u.address);
        const results = await downstream.deliver(
          config.deliverTo,
          { mailFrom: mailFromRaw, recipients: group.map(rcptOf), message: [Buffer.from(header + (auth?.headers ?? '')), ...original] },
          config.lmtp.hostname,
        );
        group.forEach((u, i) => deliveries.set(u.id, results[i]!));
      }),
    );

    const outcomes: RecipientOutcome[] = [];
    for (const user of users.values()) {
      const decision = decisions.get(user.id)!;
      const delivered = deliveries.get(user.id);
      if (delivered && !delivered.ok) continue; // not decided yet: the MTA retries or bounces
      outcomes.push({
        userId: user.id,
        rcptTo: rcpts.find((r) => r.crgateUser?.id === user.id)!.address,
        decision,
        delivered: Boolean(delivered),
      });
    }

    let stored: Map<number, Decision> | undefined;
    let storeError: CrgateError | undefined;
    if (outcomes.length) {
      try {
        const recorded = await recordMessage(
          deps.db,
          {
            mailFrom: facts.mailFrom,
            mailFromOriginal: mailFromRaw,
            clientAddress: facts.clientAddress,
            clientHelo: facts.clientHelo,
            messageIdHeader: facts.messageId,
            subject: facts.subject,
            fromHeader: facts.headers.get('from')?.[0],
            date: facts.date,
            size: message.size,
            sha256,
            auth: facts.auth,
            authHeaders: auth?.headers,
            traceId,
          },
          spooled ?? head,
          outcomes,
          {
            now: now(),
            secret: deps.secret,
            publicHost,
            tokenTtlDays: config.challenge.tokenTtlDays,
            perPairDays: config.challenge.perPairDays,
            heldDays: config.retention.heldDays,
            discardedDays: config.retention.discardedDays,
          },
        );
        stored = new Map(outcomes.map((o, i) => [o.userId, recorded[i]!.decision]));
      } catch (err) {
        storeError = toReplyError(err);
        msgLog.error({ event: 'ingest.store_failed', err }, 'could not store the message; answering 4xx for held copies');
      }
    }

    if (content) learnFromOutcome(content, content.tokens, sha256, senderAuthenticated(facts), decisions, deliveries, stored);
    for (const [userId, result] of deliveries) {
      metrics.deliveries.inc({ kind: 'ingest', result: result.ok ? 'delivered' : result.code >= 500 ? 'failed' : 'retry' });
      if (result.ok) countDecision(decisions.get(userId)!);
    }
    // Delivered copies were counted with their delivery just above; stored also holds them.
    for (const o of outcomes) {
      const d = o.delivered ? undefined : stored?.get(o.userId);
      if (d) countDecision(d);
    }

    return rcpts.map((r): Reply => {
      if (r.crgateTap) {
        if (tap instanceof Error) return tap;
        return `OK: outgoing copy ${tap!.recorded ? tap!.detail : `ignored: ${tap!.detail}`}`;
      }
      const user = r.crgateUser!;
      const earlier = already.get(user.id);
      if (earlier) {
        msgLog.info({ event: 'ingest.duplicate', rcpt: r.address, action: earlier.decision }, 'already accepted; not stored again');
        return `OK: already accepted (${earlier.decision})`;
      }
      const delivered = deliveries.get(user.id);
      if (delivered) {
        if (!delivered.ok) {
          // Nothing is stored: without this line the refusal is only in the MTA's log. A 5xx becomes a
          // bounce after acceptance (usually Dovecot and crgate disagreeing about a user); a 4xx, a
          // retry by the MTA.
          const permanent = delivered.code >= 500;
          msgLog[permanent ? 'error' : 'warn'](
            { event: 'ingest.delivery_failed', rcpt: r.address, code: delivered.code, reply: delivered.message },
            `downstream refused the delivery: ${delivered.code} ${delivered.message}`,
          );
          const code = permanent ? delivered.code : 451;
          // The downstream enhanced status code goes with it when it is of the same class (keepOwnStatusCodes).
          const status = delivered.status?.[0] === String(code)[0] ? `${delivered.status} ` : '';
          return smtpError(code, `${status}${delivered.message}`);
        }
        msgLog.info({ event: 'ingest.decided', rcpt: r.address, action: 'deliver', reasons: reasonSymbols(decisions.get(user.id)!.reasons) }, 'delivered');
        return `OK: delivered (${reasonSymbols(decisions.get(user.id)!.reasons)})`;
      }
      const final = stored?.get(user.id);
      if (!final) return replyFor(storeError ?? toReplyError(new Error('not stored')));
      msgLog.info({ event: 'ingest.decided', rcpt: r.address, action: final.action, reasons: reasonSymbols(final.reasons) }, final.action);
      return `OK: ${final.action === 'discard' ? 'accepted' : 'held'} (${final.action})`;
    });
  }

  const server = new SMTPServer({
    lmtp: true,
    name: config.lmtp.hostname,
    banner: 'crgate',
    size: config.lmtp.maxSize,
    // Only the MTA may say which client it forwards for (Postfix's smtpd_authorized_xforward_hosts):
    // a forwarded address decides SPF.
    useXForward: config.lmtp.xforwardClients,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    // RFC 2034 codes (550 5.1.1 for an unknown user) help the MTA tell why; smtp-server hides them by default.
    hideENHANCEDSTATUSCODES: false,
    maxClients: config.lmtp.maxClients,
    logger: false,
    onMailFrom(address, session, callback) {
      asciiDomain(address);
      takeForwardedClient(session);
      callback();
    },
    onRcptTo(address, session, callback) {
      onRcptTo(address, session).then(() => callback(), (err: Error) => callback(err));
    },
    onData(stream, session, callback) {
      const from = session.envelope.mailFrom as (SMTPServerAddress & { args?: Record<string, string> }) | false;
      const sizeHint = from ? Number(from.args?.SIZE ?? 0) : 0;
      readMessage(stream, sizeHint)
        .then(async (message) => {
          if (!message) return callback(smtpError(552, `Message exceeds fixed maximum message size ${config.lmtp.maxSize}`));
          const timer = metrics.lmtpData.startTimer();
          try {
            const replies = await processMessage(message, session);
            timer();
            callback(null, replies as never);
          } finally {
            // Nothing to do about a descriptor that will not close: the file is already unlinked.
            await message.spooled?.close().catch(() => undefined);
          }
        })
        .catch((err: unknown) => {
          log.error({ event: 'ingest.failed', session: session.id, err }, 'message processing failed; answering 4xx');
          callback(replyFor(toReplyError(err)));
        });
    },
  });
  server.on('error', (err) => log.error({ event: 'ingest.server_error', err }, 'LMTP server error'));
  keepOwnStatusCodes(server);

  return {
    start: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.lmtp.listen.port, config.lmtp.listen.host, () => {
          server.removeListener('error', reject);
          listening = true;
          const addr = server.server.address() as AddressInfo;
          log.info({ event: 'ingest.listening', address: addr.address, port: addr.port }, `LMTP ingest listening on ${addr.address}:${addr.port}`);
          resolve(addr);
        });
      }),
    stop: async () => {
      await new Promise<void>((resolve) => {
        stopping = true;
        server.close(() => resolve());
      });
      downstream.close();
      // What the last messages taught is written before the pool closes.
      await pipeline.content.flush();
    },
    ready: async () => (stopping ? 'stopping' : listening ? null : 'not listening'),
  };
}
