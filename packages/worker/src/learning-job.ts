/**
 * Training the classifier from what happened to held mail: a confirmed (released) copy is ham, a copy
 * whose challenge expired unconfirmed is weak spam. Idempotent through the token store's training log.
 */
import { EXPIRED_CHALLENGE_WEIGHT, type Logger } from '@crgate/core';
import { MAX_MESSAGE_BYTES, tokenize } from '@crgate/classifier';
import { copyHeads, getRecipientCopy, PgTokenStore, unconfirmedChallengeCopies, type Db, type JobPayloads } from '@crgate/store';

export { EXPIRED_CHALLENGE_WEIGHT };

export async function trainFromCopy(db: Db, payload: JobPayloads['classifier.train'], logger: Logger): Promise<'trained' | 'skipped'> {
  const copy = await getRecipientCopy(db, payload.recipientId, { headBytes: MAX_MESSAGE_BYTES });
  if (!copy?.raw) return 'skipped';
  // An expired challenge is weak evidence: once the recipient marked or released the copy, their
  // training (weight 1) must not be turned into this one's.
  if (payload.whileHeld && copy.status !== 'held') return 'skipped';
  // The copy's state now says what the recipient last made of it: a job queued by "mark as spam" and
  // overtaken by a release (or the other way round) does not get the last word.
  const labelNow = copy.status === 'releasing' || copy.status === 'released' ? 'ham' : copy.status === 'discarded' ? 'spam' : undefined;
  if (labelNow && labelNow !== payload.label) return 'skipped';
  const tokens = await tokenize(copy.raw);
  await new PgTokenStore(db).train(copy.userId, copy.sha256, tokens, payload.label, payload.weight);
  logger.info({ event: 'classifier.learned', trace: copy.traceId, userId: copy.userId, label: payload.label, weight: payload.weight }, `learned ${payload.label}`);
  return 'trained';
}

/** Expired copies whose heads are read at once: at most this many times the tokenizer's 256 KB in memory. */
const EXPIRED_BATCH = 20;

/**
 * Learns from every copy whose challenge expired unconfirmed, before the expiry sweep that follows
 * marks them expired (and no longer finds them): a page at a time, however many a long outage left.
 */
export async function trainFromExpiredChallenges(db: Db, now: Date, logger: Logger, pageSize = 1000): Promise<number> {
  const store = new PgTokenStore(db);
  let trained = 0;
  let afterId = 0;
  for (;;) {
    const copies = await unconfirmedChallengeCopies(db, now, { afterId, limit: pageSize });
    for (let i = 0; i < copies.length; i += EXPIRED_BATCH) {
      const batch = copies.slice(i, i + EXPIRED_BATCH);
      const heads = await copyHeads(db, batch.map((c) => c.recipientId), MAX_MESSAGE_BYTES);
      for (const copy of batch) {
        const head = heads.get(copy.recipientId);
        if (!head) continue; // its body was purged since
        try {
          await store.train(copy.userId, copy.sha256, await tokenize(head), 'spam', EXPIRED_CHALLENGE_WEIGHT);
          trained++;
        } catch (err) {
          // One message the model cannot take must not stop the sweep that expires mail after it.
          logger.warn({ event: 'classifier.learn_failed', recipientId: copy.recipientId, err }, 'could not learn from an expired challenge');
        }
      }
    }
    if (copies.length < pageSize) break;
    afterId = copies[copies.length - 1]!.recipientId;
  }
  if (trained) logger.info({ event: 'classifier.learned_expired', copies: trained }, 'learned from expired challenges');
  return trained;
}
