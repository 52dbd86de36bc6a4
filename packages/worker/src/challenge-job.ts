/**
 * Sends one challenge. Idempotent: a challenge that is no longer 'queued' is left alone, the rate-limit
 * slot is keyed by challenge id, and a retry rebuilds the same token, Message-ID and link.
 */
import { UnrecoverableError } from 'bullmq';
import {
  ChallengeTemplateError,
  composeChallenge,
  deriveChallengeToken,
  hashToken,
  type Config,
  type Logger,
  type Reason,
} from '@crgate/core';
import {
  challengeSlotUsed,
  getChallenge,
  markChallengeSent,
  setChallengeTokenHash,
  suppressChallenge,
  takeChallengeSlot,
  type Challenge,
  type Db,
  type RedisClient,
  type RedisKeys,
  type SendLocks,
} from '@crgate/store';
import { composeMail, deliver } from '@crgate/ingest';
import type { ChallengeTemplates } from './challenge-template.js';

export interface ChallengeJobDeps {
  config: Config;
  db: Db;
  redis: RedisClient;
  keys: RedisKeys;
  secret: string;
  templates: ChallengeTemplates;
  logger: Logger;
  now: () => Date;
  /** One worker per challenge at a time (SendLocks). */
  locks: SendLocks;
}

/**
 * A challenge that will not be sent and is already marked suppressed by `symbol` (the relay refused
 * it, or it cannot be composed): BullMQ fails the job without retrying it, and the worker counts it
 * as suppressed like the ones that return normally.
 */
export class ChallengeSuppressedError extends UnrecoverableError {
  constructor(
    message: string,
    readonly symbol: string,
  ) {
    super(message);
  }
}

/** What became of the challenge, and for a suppressed one the rule that stopped it. */
export interface ChallengeJobResult {
  result: 'sent' | 'skipped' | 'suppressed';
  reason?: string;
}


export async function sendChallenge(challengeId: string, deps: ChallengeJobDeps): Promise<ChallengeJobResult> {
  const { db } = deps;
  const challenge = await getChallenge(db, challengeId);
  if (!challenge || challenge.status !== 'queued') return { result: 'skipped' };
  // One worker sends it: BullMQ may hand the job to a second worker while the first is still at it.
  const done = await deps.locks.withLock(`challenge:${challengeId}`, async () => {
    // Read again under the lock: the worker that held it may have sent it meanwhile.
    const current = await getChallenge(db, challengeId);
    return current?.status === 'queued' ? sendLocked(current, deps) : { result: 'skipped' as const };
  });
  if (!done) throw new Error('another worker is sending this challenge; trying again later');
  return done.value;
}

async function sendLocked(challenge: Challenge, deps: ChallengeJobDeps): Promise<ChallengeJobResult> {
  const { config, db } = deps;
  const challengeId = challenge.id;
  const log = deps.logger.child({ trace: challenge.traceId, challengeId, sender: challenge.sender, recipient: challenge.recipient });
  if (challenge.expiresAt <= deps.now()) {
    // Late (the worker or Redis was away for longer than a link lives): a dead link helps nobody, and
    // the sender would be asked for nothing. The held mail stays in the quarantine, with the reason.
    const reason: Reason = { symbol: 'CHALLENGE_EXPIRED_UNSENT', weight: 0, detail: 'its link had expired before it could be sent' };
    await suppressChallenge(db, challengeId, reason);
    log.warn({ event: 'challenge.suppressed', reason: reason.symbol }, 'challenge not sent: its link had already expired');
    return { result: 'suppressed', reason: reason.symbol };
  }
  const slot = await takeChallengeSlot(deps.redis, deps.keys, {
    challengeId,
    sender: challenge.sender,
    now: deps.now(),
    perSenderPerHour: config.challenge.perSenderPerHour,
    globalPerHour: config.challenge.globalPerHour,
  });
  if (slot !== 'allowed') {
    const reason: Reason =
      slot === 'sender-limit'
        ? { symbol: 'RATE_LIMIT_SENDER', weight: 0, detail: `this sender already got ${config.challenge.perSenderPerHour} challenges this hour` }
        : { symbol: 'RATE_LIMIT_GLOBAL', weight: 0, detail: `the hourly cap of ${config.challenge.globalPerHour} challenges was reached` };
    await suppressChallenge(db, challengeId, reason);
    log.info({ event: 'challenge.suppressed', reason: reason.symbol }, 'challenge not sent: rate limit');
    return { result: 'suppressed', reason: reason.symbol };
  }

  const token = deriveChallengeToken(deps.secret, challenge.id, challenge.nonce);
  if (hashToken(token) !== challenge.tokenHash) {
    // The ingest that created the challenge held another secret: CRGATE_SECRET was changed in between,
    // or differs between the roles. The site finds a link by its token's hash, so the link sent would
    // answer 404 and the held mail would wait for nothing. The row follows the link that is sent.
    await setChallengeTokenHash(db, challengeId, hashToken(token));
    log.warn({ event: 'challenge.token_rehashed' }, 'the challenge was created under another secret: its link now follows this worker\'s secret (is CRGATE_SECRET the same for every role?)');
  }
  let composed: ReturnType<typeof composeChallenge>;
  try {
    composed = composeChallenge(
      {
        from: config.challenge.from,
        to: challenge.envelopeSender,
        recipient: challenge.recipient,
        originalSubject: challenge.originalSubject ?? undefined,
        originalMessageId: challenge.originalMessageId ?? undefined,
        link: `${config.publicUrl}/c/${token}`,
        messageId: challenge.ourMessageId,
        language: challenge.language,
      },
      deps.templates[challenge.language],
    );
  } catch (err) {
    if (!(err instanceof ChallengeTemplateError)) throw err;
    // Only an extreme address can push a checked template over the limit: hold, do not send a bad challenge.
    await suppressChallenge(db, challengeId, { symbol: 'CHALLENGE_TOO_LONG', weight: 0, detail: err.message });
    log.warn({ event: 'challenge.suppressed', reason: 'CHALLENGE_TOO_LONG', err: err.message }, 'challenge not sent: too long to compose');
    throw new ChallengeSuppressedError(err.message, 'CHALLENGE_TOO_LONG');
  }
  const raw = await composeMail({
    from: composed.from,
    to: composed.to,
    subject: composed.subject,
    messageId: composed.messageId,
    inReplyTo: composed.inReplyTo,
    references: composed.references,
    headers: composed.headers,
    text: composed.text,
    date: deps.now(),
  });
  const [result] = await deliver(
    { kind: 'smtp', ...config.smtpRelay },
    { mailFrom: '', recipients: [composed.to], message: raw, notify: ['NEVER'] },
    config.lmtp.hostname,
  );
  if (!result!.ok) {
    if (result!.code >= 500) {
      await suppressChallenge(db, challengeId, {
        symbol: 'CHALLENGE_REJECTED',
        weight: 0,
        detail: `the relay refused the challenge: ${result!.code} ${result!.message}`,
      });
      log.warn(
        { event: 'challenge.suppressed', reason: 'CHALLENGE_REJECTED', code: result!.code, reply: result!.message },
        'challenge not sent: the relay refused it',
      );
      throw new ChallengeSuppressedError(`relay refused the challenge: ${result!.code} ${result!.message}`, 'CHALLENGE_REJECTED');
    }
    throw new Error(`relay unavailable: ${result!.code} ${result!.message}`);
  }
  const sentAt = deps.now();
  await markChallengeSent(db, challengeId, sentAt, challenge.language);
  log.info({ event: 'challenge.sent' }, 'challenge sent');
  // The slot was taken when this attempt began, or by an earlier one the relay refused or missed: it
  // now counts from the send, so a backlog sent after a relay outage still takes the hour it went out
  // in. After markChallengeSent: Redis failing here must not make the job send the challenge again.
  await challengeSlotUsed(deps.redis, deps.keys, { challengeId, sender: challenge.sender, now: sentAt }).catch((err: Error) =>
    log.warn({ event: 'challenge.slot_not_moved', err: err.message }, 'challenge sent, but its rate-limit slot still counts from an earlier attempt (Redis away?)'),
  );
  return { result: 'sent' };
}
