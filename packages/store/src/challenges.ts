/** Challenges: what the worker sends, what the confirmation page shows, and confirming one. */
import { challengeLanguage, hashToken, isWellFormedToken, normalizeAddress, type ChallengeLanguage, type Reason } from '@crgate/core';
import type { Db, Queryable } from './db.js';
import { withTransaction } from './db.js';
import { addListEntry } from './lists.js';
import { lockChallengePair, releaseHeldFromSender } from './messages.js';
import { enqueueOutbox } from './outbox.js';
import { jobIds } from './queues.js';
import { storableJson } from './storable.js';

export type ChallengeStatus = 'queued' | 'sent' | 'suppressed' | 'confirmed' | 'expired';

export interface Challenge {
  id: string;
  userId: number;
  recipient: string;
  /** Normalised sender (matching and whitelisting). */
  sender: string;
  /** The envelope sender exactly as it came: the challenge goes here. */
  envelopeSender: string;
  nonce: string;
  /** SHA-256 of the link's token, as the ingest that created the challenge derived it. */
  tokenHash: string;
  status: ChallengeStatus;
  createdAt: Date;
  expiresAt: Date;
  sentAt: Date | null;
  ourMessageId: string;
  originalSubject: string | null;
  originalDate: Date | null;
  originalMessageId: string | null;
  /** Copies still held under this challenge. */
  heldCount: number;
  /** Trace id of the message that caused the challenge. */
  traceId: string | null;
  /** The language the challenge was sent in; before it is sent (or if sent by an older version), the recipient's. */
  language: ChallengeLanguage;
}

// The first copy's trace id: its copy found first, then its message by id. `ORDER BY r.id + 0`:
// ordered by the bare id, PostgreSQL walked every partition's primary key from the oldest copy,
// testing each for this challenge (8–12 ms a challenge in the bench, more as the table grows); and
// joined to messages in one query, it could hash-join every stored message. This way both are index
// probes whatever the statistics say.
const CHALLENGE_SELECT = `
  SELECT c.*, u.address AS recipient, coalesce(c.language, u.language) AS language,
         (SELECT count(*)::int FROM message_recipients r WHERE r.challenge_id = c.id AND r.status = 'held') AS held_count,
         (SELECT m.trace_id FROM messages m
           WHERE m.id = (SELECT r.message_id FROM message_recipients r WHERE r.challenge_id = c.id ORDER BY r.id + 0 LIMIT 1)
           LIMIT 1) AS trace_id
    FROM challenges c JOIN users u ON u.id = c.user_id`;

function toChallenge(row: Record<string, any>): Challenge {
  return {
    id: row.id,
    userId: row.user_id,
    recipient: row.recipient,
    sender: row.sender,
    envelopeSender: row.envelope_sender ?? row.sender,
    nonce: row.nonce,
    tokenHash: row.token_hash,
    status: row.status,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    sentAt: row.sent_at,
    ourMessageId: row.our_message_id,
    originalSubject: row.original_subject,
    originalDate: row.original_date,
    originalMessageId: row.original_message_id,
    heldCount: row.held_count,
    traceId: row.trace_id,
    // users.language holds what the settings page offers, but a value written by hand ('de-DE') must
    // give the page the language the worker wrote the mail in.
    language: challengeLanguage(row.language),
  };
}

export async function getChallenge(db: Queryable, id: string): Promise<Challenge | undefined> {
  // Named: the worker asks this for every challenge it sends, and planning it (two subqueries over
  // every month partition) costs more than running it.
  const { rows } = await db.query({ name: 'crgate.challenge_by_id', text: `${CHALLENGE_SELECT} WHERE c.id = $1`, values: [id] });
  return rows[0] ? toChallenge(rows[0]) : undefined;
}

export async function findChallengeByToken(db: Queryable, token: string): Promise<Challenge | undefined> {
  if (!isWellFormedToken(token)) return undefined;
  const { rows } = await db.query(`${CHALLENGE_SELECT} WHERE c.token_hash = $1`, [hashToken(token)]);
  return rows[0] ? toChallenge(rows[0]) : undefined;
}

/** Points a challenge not yet sent at the token of the link about to be sent (see the challenge job). */
export async function setChallengeTokenHash(db: Queryable, id: string, tokenHash: string): Promise<boolean> {
  const res = await db.query(`UPDATE challenges SET token_hash = $2 WHERE id = $1 AND status = 'queued'`, [id, tokenHash]);
  return (res.rowCount ?? 0) > 0;
}

export async function markChallengeSent(db: Queryable, id: string, now: Date, language: ChallengeLanguage): Promise<void> {
  await db.query(`UPDATE challenges SET status = 'sent', sent_at = $2, language = $3 WHERE id = $1 AND status = 'queued'`, [id, now, language]);
}

/**
 * A limit stopped the challenge: it is not sent, and its held copies become quarantined with the
 * limit's reason, so the recipient sees why nobody was asked.
 */
export async function suppressChallenge(db: Db, id: string, reason: Reason): Promise<void> {
  await withTransaction(db, async (tx) => {
    const res = await tx.query(`UPDATE challenges SET status = 'suppressed', status_reason = $2 WHERE id = $1 AND status = 'queued'`, [
      id,
      reason.symbol,
    ]);
    if (!res.rowCount) return;
    await tx.query(
      `UPDATE message_recipients SET decision = 'quarantine', reasons = reasons || $2::jsonb
        WHERE challenge_id = $1 AND status = 'held'`,
      [id, storableJson([reason])],
    );
  });
}

/** What requeueUndeliverableChallenge found; only 'queued' changed anything. */
export type RequeueResult =
  | { outcome: 'queued' }
  /** Given up as undeliverable, but its link has expired since: a challenge now would ask for nothing. */
  | { outcome: 'expired' }
  /** Given up as undeliverable, and a newer challenge to the same sender is pending. */
  | { outcome: 'superseded' }
  /** Not given up as undeliverable (sent, confirmed, expired, or stopped by another rule), or gone. */
  | { outcome: 'not-given-up'; status?: ChallengeStatus; reason?: string };

/**
 * Undoes the worker's give-up for a challenge the relay never took (CHALLENGE_UNDELIVERABLE), for
 * `crgate queue retry` once the relay works again: the challenge is 'queued' again and its held copies
 * wait on it again (decision 'challenge', the CHALLENGE_UNDELIVERABLE reason taken off). Only while its
 * link lives and no newer challenge to the same sender is pending (the pair has one active challenge).
 * The caller then runs its job again.
 */
export async function requeueUndeliverableChallenge(db: Db, id: string, now: Date): Promise<RequeueResult> {
  try {
    return await withTransaction(db, async (tx): Promise<RequeueResult> => {
      const { rows } = await tx.query<{ status: ChallengeStatus; status_reason: string | null; expires_at: Date; user_id: number; sender: string }>(
        'SELECT status, status_reason, expires_at, user_id, sender FROM challenges WHERE id = $1 FOR UPDATE',
        [id],
      );
      const c = rows[0];
      if (!c) return { outcome: 'not-given-up' };
      if (c.status !== 'suppressed' || c.status_reason !== 'CHALLENGE_UNDELIVERABLE') {
        return { outcome: 'not-given-up', status: c.status, ...(c.status_reason ? { reason: c.status_reason } : {}) };
      }
      if (c.expires_at <= now) return { outcome: 'expired' };
      const newer = await tx.query(`SELECT 1 FROM challenges WHERE user_id = $1 AND sender = $2 AND status IN ('queued', 'sent') AND id <> $3`, [
        c.user_id,
        c.sender,
        id,
      ]);
      if (newer.rowCount) return { outcome: 'superseded' };
      await tx.query(`UPDATE challenges SET status = 'queued', status_reason = NULL WHERE id = $1`, [id]);
      await tx.query(
        `UPDATE message_recipients r
            SET decision = 'challenge',
                reasons = COALESCE((SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(r.reasons) WITH ORDINALITY AS x(e, i)
                                     WHERE e->>'symbol' <> 'CHALLENGE_UNDELIVERABLE'), '[]'::jsonb)
          WHERE r.challenge_id = $1 AND r.status = 'held' AND r.reasons @> '[{"symbol": "CHALLENGE_UNDELIVERABLE"}]'::jsonb`,
        [id],
      );
      return { outcome: 'queued' };
    });
  } catch (err) {
    // The ingest created a challenge to the same sender meanwhile (the pair's one active slot).
    if ((err as { code?: string }).code === '23505') return { outcome: 'superseded' };
    throw err;
  }
}

export type ConfirmResult =
  | { ok: true; challenge: Challenge; released: number[] }
  /** `language`: the challenge's, when the token names one (a spent or expired link), for its page. */
  | { ok: false; why: 'unknown' | 'spent' | 'expired'; language?: ChallengeLanguage };

/** Why a challenge found by token cannot be used, or null if it can. */
export function challengeUnavailable(challenge: Challenge | undefined, now: Date): 'unknown' | 'spent' | 'expired' | null {
  if (!challenge) return 'unknown';
  if (challenge.status === 'confirmed') return 'spent';
  if (challenge.status === 'expired' || challenge.status === 'suppressed' || challenge.expiresAt <= now) return 'expired';
  return null;
}

/**
 * Confirms a challenge: spends the token, whitelists the sender for the recipient (source: confirmed)
 * and releases every copy that sender has held for that recipient — one transaction.
 */
export async function confirmChallenge(db: Db, token: string, now: Date): Promise<ConfirmResult> {
  if (!isWellFormedToken(token)) return { ok: false, why: 'unknown' };
  return withTransaction(db, async (tx) => {
    // The pair first, then the challenge row, in the ingest's order (lockChallengePair).
    const pair = await tx.query<{ user_id: number; sender: string }>('SELECT user_id, sender FROM challenges WHERE token_hash = $1', [hashToken(token)]);
    if (pair.rows[0]) await lockChallengePair(tx, pair.rows[0].user_id, pair.rows[0].sender);
    const { rows } = await tx.query(`${CHALLENGE_SELECT} WHERE c.token_hash = $1 FOR UPDATE OF c`, [hashToken(token)]);
    const challenge = rows[0] ? toChallenge(rows[0]) : undefined;
    const why = challengeUnavailable(challenge, now);
    if (why || !challenge) return { ok: false, why: why ?? 'unknown', language: challenge?.language };
    await tx.query(`UPDATE challenges SET status = 'confirmed', confirmed_at = $2 WHERE id = $1`, [challenge.id, now]);
    // Remember how the sender authenticated (the DKIM domains that signed the held mail), so a later
    // message claiming the address without that signature does not inherit the whitelist entry.
    const signed = await tx.query<{ domain: string }>(
      `SELECT DISTINCT sig->>'domain' AS domain
         FROM message_recipients r JOIN messages m ON m.id = r.message_id,
              jsonb_array_elements(COALESCE(m.auth->'dkim', '[]'::jsonb)) AS sig
        WHERE r.user_id = $1 AND r.sender = $2 AND r.status = 'held' AND sig->>'result' = 'pass'`,
      [challenge.userId, challenge.sender],
    );
    await addListEntry(tx, {
      userId: challenge.userId,
      list: 'white',
      kind: 'address',
      value: challenge.sender,
      source: 'confirmed',
      auth: { dkimDomains: signed.rows.map((r) => r.domain).sort() },
    });
    const released = await releaseHeldFromSender(tx, challenge.userId, normalizeAddress(challenge.sender));
    // A confirmed sender's held mail is ham for this recipient: teach the classifier.
    for (const id of released) await enqueueOutbox(tx, 'classifier.train', jobIds.train(id, 'ham'), { recipientId: id, label: 'ham', weight: 1 });
    return { ok: true, challenge, released };
  });
}
