/**
 * Delivers one released copy downstream. Idempotent: only a copy in 'releasing' is delivered, by one
 * worker at a time, and it becomes 'released' once downstream accepted it. A 5xx ends the attempt: the
 * copy is held again with the reason (RELEASE_FAILED), where the recipient sees it and can release it
 * once more; anything else is retried with backoff.
 */
import { UnrecoverableError } from 'bullmq';
import type { Config, Logger } from '@crgate/core';
import {
  copyHeads,
  getRecipientCopy,
  markDeliveryFailed,
  markReleased,
  storedBody,
  type Db,
  type HeldCopy,
  type SendLocks,
} from '@crgate/store';
import { decisionHeader, deliver, MAX_HEADER_BYTES, withoutClaimedTraceFields } from '@crgate/ingest';

export interface DeliveryJobDeps {
  config: Config;
  db: Db;
  logger: Logger;
  /** One worker per released copy at a time (SendLocks). */
  locks: SendLocks;
}

export async function deliverReleased(recipientId: number, deps: DeliveryJobDeps): Promise<'delivered' | 'skipped'> {
  const { db } = deps;
  const copy = await getRecipientCopy(db, recipientId, { withoutBody: true });
  if (!copy || copy.status !== 'releasing') return 'skipped';
  // One worker delivers it, as one worker sends a challenge (challenge-job.ts).
  const done = await deps.locks.withLock(`release:${recipientId}`, async () => {
    const current = await getRecipientCopy(db, recipientId, { withoutBody: true });
    return current?.status === 'releasing' ? deliverLocked(current, deps) : ('skipped' as const);
  });
  if (!done) throw new Error('another worker is delivering this copy; trying again later');
  return done.value;
}

async function deliverLocked(copy: HeldCopy, deps: DeliveryJobDeps): Promise<'delivered'> {
  const { config, db } = deps;
  const recipientId = copy.recipientId;
  const log = deps.logger.child({ trace: copy.traceId, recipientId, messageId: copy.messageId });
  if (!copy.bodyStored) {
    await markDeliveryFailed(db, recipientId, 'message body no longer stored');
    throw new UnrecoverableError('message body no longer stored');
  }
  const rcpt = config.deliverTo.kind === 'maildir' ? copy.userAddress : copy.rcptTo;
  const symbols = Array.isArray(copy.reasons) ? (copy.reasons as Array<{ symbol: string }>).map((r) => r.symbol) : [];
  // The stored bytes, read from the database a slice at a time as they are sent, less the header
  // fields forged in our name (the ingest takes them out of what it delivers, too).
  const head = (await copyHeads(db, [recipientId], MAX_HEADER_BYTES)).get(recipientId) ?? Buffer.alloc(0);
  const original = withoutClaimedTraceFields(head, (offset) => storedBody(db, copy.messageId, undefined, offset), config.lmtp.hostname);
  const [result] = await deliver(
    config.deliverTo,
    {
      mailFrom: copy.envelopeSender,
      recipients: [rcpt],
      message: [Buffer.from(decisionHeader('released', symbols) + (copy.authHeaders ?? '')), ...original],
    },
    config.lmtp.hostname,
  );
  if (result!.ok) {
    await markReleased(db, recipientId);
    log.info({ event: 'release.delivered' }, 'released copy delivered');
    return 'delivered';
  }
  if (result!.code >= 500) {
    await markDeliveryFailed(db, recipientId, `${result!.code} ${result!.message}`);
    log.error({ event: 'release.failed', code: result!.code, reply: result!.message }, 'downstream refused the released copy');
    throw new UnrecoverableError(`downstream refused: ${result!.code} ${result!.message}`);
  }
  throw new Error(`downstream unavailable: ${result!.code} ${result!.message}`);
}
