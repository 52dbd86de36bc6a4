/**
 * Training the classifier from what happened to held mail: a confirmed (released) copy is ham, a copy
 * whose challenge expired unconfirmed is weak spam. Idempotent through the token store's training log.
 */
import type { Logger } from '@crgate/core';
import { tokenize } from '@crgate/classifier';
import { getRecipientCopy, PgTokenStore, unconfirmedChallengeCopies, type Db } from '@crgate/store';

/** A challenge nobody answered says little: most forged senders never see it. */
export const EXPIRED_CHALLENGE_WEIGHT = 0.25;

export async function trainFromCopy(db: Db, payload: { recipientId: number; label: 'ham' | 'spam'; weight: number }, logger: Logger): Promise<'trained' | 'skipped'> {
  const copy = await getRecipientCopy(db, payload.recipientId);
  if (!copy?.raw) return 'skipped';
  const tokens = await tokenize(copy.raw);
  await new PgTokenStore(db).train(copy.userId, copy.sha256, tokens, payload.label, payload.weight);
  logger.info({ event: 'classifier.learned', trace: copy.traceId, userId: copy.userId, label: payload.label, weight: payload.weight }, `learned ${payload.label}`);
  return 'trained';
}

export async function trainFromExpiredChallenges(db: Db, now: Date, logger: Logger): Promise<number> {
  const store = new PgTokenStore(db);
  const copies = await unconfirmedChallengeCopies(db, now);
  for (const copy of copies) await store.train(copy.userId, copy.sha256, await tokenize(copy.raw), 'spam', EXPIRED_CHALLENGE_WEIGHT);
  if (copies.length) logger.info({ event: 'classifier.learned_expired', copies: copies.length }, 'learned from expired challenges');
  return copies.length;
}
