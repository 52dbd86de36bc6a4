/**
 * Recording what the ingest decided: the message (raw bytes only when some copy is held or discarded),
 * one row per recipient with its decision and reasons, and for challenges the challenge row and its
 * outbox job — all in one transaction, committed before the LMTP reply.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { EXPIRED_CHALLENGE_WEIGHT, planChallenge, deriveChallengeToken, hashToken, newNonce, type Decision, type DecisionAction } from '@crgate/core';
import type { Db, DbClient, Queryable } from './db.js';
import { withTransaction } from './db.js';
import { enqueueOutbox } from './outbox.js';
import { jobIds } from './queues.js';
import { storableJson, storableOptional } from './storable.js';

export interface MessageMeta {
  /** Envelope sender, normalised (matching, lists). */
  mailFrom: string;
  /** Envelope sender exactly as given in MAIL FROM: challenges and releases use it. */
  mailFromOriginal: string;
  clientAddress?: string;
  clientHelo?: string;
  messageIdHeader?: string;
  subject?: string;
  fromHeader?: string;
  date?: Date;
  size: number;
  sha256: string;
  /** Authentication facts as the policy saw them. */
  auth?: unknown;
  /** Authentication-Results header lines to add when the message is delivered or released. */
  authHeaders?: string;
  /** The id every log line about this message carries. */
  traceId?: string;
}

export type RecipientStatus = 'delivered' | 'held' | 'discarded' | 'releasing' | 'released' | 'expired' | 'failed';

export interface RecipientOutcome {
  userId: number;
  rcptTo: string;
  decision: Decision;
  /** delivered (already accepted downstream) or to be stored */
  delivered: boolean;
}

export interface RecordOptions {
  now: Date;
  secret: string;
  publicHost: string;
  tokenTtlDays: number;
  perPairDays: number;
  heldDays: number;
  discardedDays: number;
}

export interface RecordedRecipient {
  recipientId: number;
  decision: Decision;
  challengeId?: string;
  newChallenge: boolean;
}

const DAY_MS = 86_400_000;

function statusFor(action: DecisionAction, delivered: boolean): RecipientStatus {
  if (delivered) return 'delivered';
  return action === 'discard' ? 'discarded' : 'held';
}

/**
 * Serialises, until the transaction ends, what happens to one (recipient, sender) pair's challenge:
 * a message being held under it and its confirmation. Without it a confirmation could commit between
 * the ingest reading the challenge as active and inserting its held copy, which the confirmation's
 * release did not see: the copy stayed held under a confirmed challenge, the sender told "confirmed".
 * `sender` is the challenges.sender value. Taken before any challenge row lock, by both sides.
 */
export async function lockChallengePair(tx: DbClient, userId: number, sender: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`crgate:pair:${userId}:${sender}`]);
}

async function challengeFor(
  tx: DbClient,
  userId: number,
  sender: string,
  meta: MessageMeta,
  decision: Decision,
  opts: RecordOptions,
): Promise<{ decision: Decision; challengeId?: string; newChallenge: boolean; release?: boolean }> {
  await lockChallengePair(tx, userId, sender);
  // An expired challenge no longer occupies the pair's one active slot. The hourly sweep learns from
  // the mail an unanswered challenge held before it marks it expired; here the mail is learned from
  // through the outbox, since no sweep finds a challenge once it is marked.
  const expired = await tx.query<{ id: number }>(
    `WITH e AS (UPDATE challenges SET status = 'expired'
                 WHERE user_id = $1 AND sender = $2 AND status IN ('queued', 'sent') AND expires_at <= $3 RETURNING id)
     SELECT r.id FROM message_recipients r JOIN e ON r.challenge_id = e.id WHERE r.status = 'held'`,
    [userId, sender, opts.now],
  );
  for (const { id } of expired.rows) {
    // Its own job id: a later "mark as spam" of the copy (weight 1) must not be taken for this one.
    await enqueueOutbox(tx, 'classifier.train', jobIds.train(id, 'expired'), { recipientId: id, label: 'spam', weight: EXPIRED_CHALLENGE_WEIGHT, whileHeld: true });
  }
  const state = await tx.query<{ id: string; created_at: Date; active: boolean; confirmed_at: Date | null }>(
    `SELECT id, created_at, status IN ('queued', 'sent') AS active, confirmed_at FROM challenges
      WHERE user_id = $1 AND sender = $2 ORDER BY (status IN ('queued', 'sent')) DESC, created_at DESC LIMIT 1`,
    [userId, sender],
  );
  const row = state.rows[0];
  const planned = planChallenge(
    decision,
    {
      active: row?.active ? { id: row.id, createdAt: row.created_at } : undefined,
      lastCreatedAt: row?.created_at,
      confirmedAt: row?.confirmed_at ?? undefined,
    },
    opts.now,
    opts.perPairDays,
  );
  if (planned.plan.kind === 'release') return { decision: planned.decision, newChallenge: false, release: true };
  if (planned.plan.kind === 'none') return { decision: planned.decision, newChallenge: false };
  if (planned.plan.kind === 'attach') return { decision: planned.decision, challengeId: planned.plan.challengeId, newChallenge: false };

  const id = randomUUID();
  const nonce = newNonce();
  const token = deriveChallengeToken(opts.secret, id, nonce);
  const inserted = await tx.query<{ id: string }>(
    `INSERT INTO challenges (id, user_id, sender, nonce, token_hash, status, created_at, expires_at, our_message_id,
                             original_subject, original_date, original_message_id, envelope_sender)
     VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (user_id, sender) WHERE status IN ('queued', 'sent') DO NOTHING RETURNING id`,
    [
      id,
      userId,
      sender,
      nonce,
      hashToken(token),
      opts.now,
      new Date(opts.now.getTime() + opts.tokenTtlDays * DAY_MS),
      `<cr-${id}@${opts.publicHost}>`,
      meta.subject ?? null,
      meta.date ?? null,
      meta.messageIdHeader ?? null,
      meta.mailFromOriginal,
    ],
  );
  if (inserted.rowCount) {
    await enqueueOutbox(tx, 'challenge.send', jobIds.challenge(id), { challengeId: id });
    return { decision: planned.decision, challengeId: id, newChallenge: true };
  }
  // A concurrent message from the same sender created the challenge first: join it.
  const again = await tx.query<{ id: string; created_at: Date }>(
    `SELECT id, created_at FROM challenges WHERE user_id = $1 AND sender = $2 AND status IN ('queued', 'sent')`,
    [userId, sender],
  );
  const active = again.rows[0]!;
  const joined = planChallenge(decision, { active: { id: active.id, createdAt: active.created_at } }, opts.now, opts.perPairDays);
  return { decision: joined.decision, challengeId: active.id, newChallenge: false };
}

const INSERT_MESSAGE = `INSERT INTO messages (received_at, mail_from, client_address, client_helo, message_id_header, subject, from_header,
                             date_header, size, sha256, raw, auth, auth_headers, trace_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`;

/**
 * A body kept for a held or discarded copy is sent to PostgreSQL in pieces of this size when it is
 * larger. As one parameter, `pg` would serialise it into one protocol message: a second copy of the
 * body in the ingest's memory (docs/performance.md, large messages). In pieces the extra memory is one
 * piece; PostgreSQL joins them into the row's `raw` in the same transaction.
 */
export const RAW_PIECE_BYTES = 1024 * 1024;

/** INSERT_MESSAGE with `raw` taken from the pieces stageRawInPieces() wrote ($11 is then null). */
const INSERT_MESSAGE_FROM_PIECES = INSERT_MESSAGE.replace(
  '$11,',
  `coalesce($11::bytea, (SELECT string_agg(piece, ''::bytea ORDER BY seq) FROM crgate_raw_pieces)),`,
);

/**
 * A message body that is not in memory (the ingest's spool file for large mail), read piece by piece.
 * It is always stored through stageRawInPieces().
 */
export interface PiecewiseBody {
  readonly size: number;
  pieces(bytes: number): AsyncIterable<Buffer>;
}

function* bufferPieces(raw: Buffer): Generator<Buffer> {
  for (let at = 0; at < raw.length; at += RAW_PIECE_BYTES) yield raw.subarray(at, at + RAW_PIECE_BYTES);
}

/**
 * Writes the body into a temporary table of this connection, one piece per statement. The table is
 * emptied at commit or rollback, so the pieces never outlive the transaction that stores the message.
 */
async function stageRawInPieces(tx: DbClient, raw: Buffer | PiecewiseBody): Promise<void> {
  await tx.query('CREATE TEMP TABLE IF NOT EXISTS crgate_raw_pieces (seq integer PRIMARY KEY, piece bytea NOT NULL) ON COMMIT DELETE ROWS');
  let seq = 0;
  for await (const piece of Buffer.isBuffer(raw) ? bufferPieces(raw) : raw.pieces(RAW_PIECE_BYTES)) {
    await tx.query('INSERT INTO crgate_raw_pieces (seq, piece) VALUES ($1, $2)', [seq++, piece]);
  }
}

function messageValues(meta: MessageMeta, raw: Buffer | PiecewiseBody, keepRaw: boolean, opts: RecordOptions): unknown[] {
  return [
    opts.now,
    meta.mailFromOriginal,
    meta.clientAddress ?? null,
    meta.clientHelo ?? null,
    meta.messageIdHeader ?? null,
    meta.subject ?? null,
    meta.fromHeader ?? null,
    meta.date && !Number.isNaN(meta.date.getTime()) ? meta.date : null,
    meta.size,
    meta.sha256,
    keepRaw && Buffer.isBuffer(raw) ? raw : null,
    meta.auth === undefined ? null : storableJson(meta.auth),
    meta.authHeaders ?? null,
    meta.traceId ?? null,
  ];
}

/** `release`: stored straight as 'releasing' (its delivery job is queued beside it). */
function recipientRow(r: RecipientOutcome, decision: Decision, sender: string, opts: RecordOptions, release = false) {
  const status: RecipientStatus = release ? 'releasing' : statusFor(decision.action, r.delivered);
  const keepDays = status === 'discarded' ? opts.discardedDays : opts.heldDays;
  return {
    userId: r.userId,
    rcptTo: r.rcptTo,
    sender,
    decision: decision.action,
    reasons: storableJson(decision.reasons),
    status,
    expiresAt: status === 'delivered' ? null : new Date(opts.now.getTime() + keepDays * DAY_MS),
  };
}

/** The header text a message brings, as PostgreSQL can keep it (storable.ts). */
function storableMeta(meta: MessageMeta): MessageMeta {
  return {
    ...meta,
    clientHelo: storableOptional(meta.clientHelo),
    messageIdHeader: storableOptional(meta.messageIdHeader),
    subject: storableOptional(meta.subject),
    fromHeader: storableOptional(meta.fromHeader),
    authHeaders: storableOptional(meta.authHeaders),
  };
}

export async function recordMessage(
  db: Db,
  rawMeta: MessageMeta,
  raw: Buffer | PiecewiseBody,
  recipients: RecipientOutcome[],
  opts: RecordOptions,
): Promise<RecordedRecipient[]> {
  const meta = storableMeta(rawMeta);
  const keepRaw = recipients.some((r) => !r.delivered);
  const inPieces = keepRaw && (!Buffer.isBuffer(raw) || raw.length > RAW_PIECE_BYTES);
  const challenged = recipients.some((r) => !r.delivered && r.decision.action === 'challenge');
  if (!challenged && !inPieces) return recordWithoutChallenge(db, meta, raw, keepRaw, recipients, opts, false);
  return withTransaction(db, async (tx) => {
    if (inPieces) await stageRawInPieces(tx, raw);
    if (!challenged) return recordWithoutChallenge(tx, meta, raw, keepRaw, recipients, opts, true);
    const msg = await tx.query<{ id: number }>(
      inPieces ? INSERT_MESSAGE_FROM_PIECES : INSERT_MESSAGE,
      messageValues(meta, raw, keepRaw && !inPieces, opts),
    );
    const messageId = msg.rows[0]!.id;
    const out: RecordedRecipient[] = new Array(recipients.length);
    // Recipients in user order: two messages from one sender to the same users, listed in opposite
    // orders, would otherwise take their challenge rows' locks in opposite orders and deadlock.
    const order = recipients.map((r, i) => ({ r, i })).sort((a, b) => a.r.userId - b.r.userId);
    for (const { r, i } of order) {
      let decision = r.decision;
      let challengeId: string | undefined;
      let newChallenge = false;
      let release: boolean | undefined;
      if (!r.delivered && decision.action === 'challenge') {
        ({ decision, challengeId, newChallenge, release } = await challengeFor(tx, r.userId, meta.mailFrom, meta, decision, opts));
      }
      const row = recipientRow(r, decision, meta.mailFrom, opts, release);
      const ins = await tx.query<{ id: number }>(
        // received_at is the message's (the partition key both tables share); created_at the same instant.
        `INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, challenge_id, created_at, expires_at, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9) RETURNING id`,
        [messageId, row.userId, row.rcptTo, row.sender, row.decision, row.reasons, row.status, challengeId ?? null, opts.now, row.expiresAt],
      );
      const recipientId = ins.rows[0]!.id;
      if (release) await enqueueOutbox(tx, 'message.deliver', jobIds.deliver(recipientId), { recipientId });
      out[i] = { recipientId, decision, challengeId, newChallenge };
    }
    return out;
  });
}

/**
 * Without a challenge to plan, recording is one statement: the message row and its recipient rows in
 * one INSERT with a CTE, which PostgreSQL runs (and commits) atomically. That is one round trip instead
 * of BEGIN, 1 + n INSERTs and COMMIT for most mail (delivered, discarded and quarantined copies), each
 * round trip a wake-up of both processes on this hot path (docs/performance.md).
 */
async function recordWithoutChallenge(
  db: Queryable,
  meta: MessageMeta,
  raw: Buffer | PiecewiseBody,
  keepRaw: boolean,
  recipients: RecipientOutcome[],
  opts: RecordOptions,
  /** The body was staged by stageRawInPieces() in this transaction. */
  inPieces: boolean,
): Promise<RecordedRecipient[]> {
  const rows = recipients.map((r) => recipientRow(r, r.decision, meta.mailFrom, opts));
  const { rows: inserted } = await db.query<{ id: number; user_id: number }>({
    name: inPieces ? 'crgate.record_message_from_pieces' : 'crgate.record_message',
    text: `WITH m AS (${inPieces ? INSERT_MESSAGE_FROM_PIECES : INSERT_MESSAGE})
      INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, created_at, expires_at, received_at)
      SELECT m.id, r.user_id, r.rcpt_to, $15, r.decision, r.reasons, r.status, $1, r.expires_at, $1
        FROM m, unnest($16::bigint[], $17::text[], $18::text[], $19::jsonb[], $20::text[], $21::timestamptz[])
                AS r(user_id, rcpt_to, decision, reasons, status, expires_at)
      RETURNING id, user_id`,
    values: [
      ...messageValues(meta, raw, keepRaw && !inPieces, opts),
      meta.mailFrom,
      rows.map((r) => r.userId),
      rows.map((r) => r.rcptTo),
      rows.map((r) => r.decision),
      rows.map((r) => r.reasons),
      rows.map((r) => r.status),
      rows.map((r) => r.expiresAt),
    ],
  });
  const idOf = new Map(inserted.map((r) => [r.user_id, r.id]));
  return recipients.map((r) => ({ recipientId: idOf.get(r.userId)!, decision: r.decision, newChallenge: false }));
}

export interface HeldCopy {
  recipientId: number;
  messageId: number;
  userId: number;
  /** The user's primary address. */
  userAddress: string;
  rcptTo: string;
  sender: string;
  status: RecipientStatus;
  decision: DecisionAction;
  reasons: unknown;
  /** The body, its head, or null: not stored any more, or not asked for (`withoutBody`). */
  raw: Buffer | null;
  /** Whether the body is still stored (whatever of it was read into `raw`). */
  bodyStored: boolean;
  authHeaders: string | null;
  /** The envelope sender as it came (the release is sent with it). */
  envelopeSender: string;
  /** SHA-256 of the raw message: its key in the classifier's training log. */
  sha256: string;
  traceId: string | null;
}

/**
 * `headBytes`: read only the first bytes of the body into `raw` (what the tokenizer reads), not all of it;
 * `withoutBody`: none of it (a release streams it with storedBody()).
 */
export async function getRecipientCopy(
  db: Queryable,
  recipientId: number,
  opts: { headBytes?: number; withoutBody?: boolean } = {},
): Promise<HeldCopy | undefined> {
  const raw = opts.withoutBody ? 'NULL::bytea AS raw' : opts.headBytes === undefined ? 'm.raw' : 'substring(m.raw FROM 1 FOR $2) AS raw';
  const { rows } = await db.query(
    `SELECT r.id, r.message_id, r.user_id, u.address AS user_address, r.rcpt_to, r.sender, r.status, r.decision, r.reasons, ${raw},
            m.raw IS NOT NULL AS body_stored, m.auth_headers, m.mail_from, m.sha256, m.trace_id
       FROM message_recipients r JOIN messages m ON m.id = r.message_id JOIN users u ON u.id = r.user_id WHERE r.id = $1`,
    opts.withoutBody || opts.headBytes === undefined ? [recipientId] : [recipientId, opts.headBytes],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    recipientId: row.id,
    messageId: row.message_id,
    userId: row.user_id,
    userAddress: row.user_address,
    rcptTo: row.rcpt_to,
    sender: row.sender,
    status: row.status,
    decision: row.decision,
    reasons: row.reasons,
    raw: row.raw,
    bodyStored: row.body_stored,
    authHeaders: row.auth_headers,
    envelopeSender: row.mail_from,
    sha256: row.sha256,
    traceId: row.trace_id,
  };
}

export async function markReleased(db: Queryable, recipientId: number): Promise<void> {
  await db.query(`UPDATE message_recipients SET status = 'released', released_at = now() WHERE id = $1 AND status = 'releasing'`, [
    recipientId,
  ]);
}

/**
 * A release that could not be delivered (refused downstream, or retried until the job gave up): the
 * copy is held again, with the reason, where the recipient sees it and can release it once more; it
 * is kept at least a week from now. A copy whose body is gone can never be delivered: it expires.
 */
export async function markDeliveryFailed(db: Queryable, recipientId: number, detail: string): Promise<void> {
  const reason = storableJson([{ symbol: 'RELEASE_FAILED', weight: 0, detail }]);
  await db.query(
    `UPDATE message_recipients r
        SET status = CASE WHEN m.raw IS NULL THEN 'expired' ELSE 'held' END,
            status_detail = $2,
            reasons = r.reasons || $3::jsonb,
            expires_at = GREATEST(COALESCE(r.expires_at, now()), now() + interval '7 days')
       FROM messages m
      WHERE r.id = $1 AND r.status = 'releasing' AND m.id = r.message_id`,
    [recipientId, detail, reason],
  );
}

/**
 * Copies held with these reasons were shown not to come from the address they claim: the real sender's
 * confirmation says nothing for them. They stay held, in the recipient's sight.
 */
const SHOWN_FORGED = ['SPF_FAIL', 'DMARC_FAIL', 'WHITELIST_FORGED', 'FORGED_LOCAL_SENDER'];

/**
 * Moves every copy the sender has held for the user to 'releasing' and queues its delivery, inside the
 * caller's transaction, but for copies shown forged (SHOWN_FORGED). Returns the recipient ids released.
 */
export async function releaseHeldFromSender(tx: Queryable, userId: number, sender: string): Promise<number[]> {
  const { rows } = await tx.query<{ id: number }>(
    `UPDATE message_recipients SET status = 'releasing'
      WHERE user_id = $1 AND sender = $2 AND status = 'held'
        AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(reasons) e WHERE e->>'symbol' = ANY($3::text[]))
      RETURNING id`,
    [userId, sender, SHOWN_FORGED],
  );
  for (const row of rows) await enqueueOutbox(tx, 'message.deliver', jobIds.deliver(row.id), { recipientId: row.id });
  return rows.map((r) => r.id);
}

/**
 * Held copies whose challenge ran out unconfirmed: weak evidence of spam, read by the expiry sweep
 * before it expires them. Without their bodies: a sweep may find a thousand, each up to the size
 * limit; the learner reads their heads a few at a time (copyHeads).
 */
export async function unconfirmedChallengeCopies(
  db: Queryable,
  now: Date,
  page: { afterId?: number; limit?: number } = {},
): Promise<Array<{ recipientId: number; userId: number; sha256: string }>> {
  const { rows } = await db.query(
    `SELECT r.id, r.user_id, m.sha256 FROM message_recipients r
       JOIN challenges c ON c.id = r.challenge_id JOIN messages m ON m.id = r.message_id
      WHERE c.status IN ('queued', 'sent') AND c.expires_at <= $1 AND r.status = 'held' AND m.raw IS NOT NULL AND r.id > $2
      ORDER BY r.id LIMIT $3`,
    [now, page.afterId ?? 0, page.limit ?? 1000],
  );
  return rows.map((r) => ({ recipientId: r.id, userId: r.user_id, sha256: r.sha256 }));
}

/**
 * The first `bytes` of the stored bodies of these copies, by recipient id (copies without a body are
 * absent): what the classifier's tokenizer reads of a message, without reading all of a large one.
 */
export async function copyHeads(db: Queryable, recipientIds: readonly number[], bytes: number): Promise<Map<number, Buffer>> {
  const { rows } = await db.query<{ id: number; head: Buffer }>(
    `SELECT r.id, substring(m.raw FROM 1 FOR $2) AS head FROM message_recipients r JOIN messages m ON m.id = r.message_id
      WHERE r.id = ANY($1::bigint[]) AND m.raw IS NOT NULL`,
    [recipientIds, bytes],
  );
  return new Map(rows.map((r) => [Number(r.id), r.head]));
}

/** Bytes of a stored body read per query when it is streamed. */
export const BODY_SLICE_BYTES = 1024 * 1024;

/**
 * A stored body as a stream read `sliceBytes` at a time, for sending a released copy downstream. pg
 * hands a bytea over as hex text, so reading a 50 MB body in one row took the worker's RSS ~360 MB up
 * (measured); 1 MB slices take it ~95 MB up, most of that garbage not yet collected. The stream fails
 * (and the send is retried) if the body is gone meanwhile; the expiry never purges the body of a copy
 * being released.
 */
export function storedBody(db: Queryable, messageId: number, sliceBytes = BODY_SLICE_BYTES, start = 0): { stream(): Readable } {
  async function* slices(): AsyncGenerator<Buffer> {
    for (let offset = start; ; offset += sliceBytes) {
      const { rows } = await db.query<{ slice: Buffer | null }>(`SELECT substring(raw FROM $2 FOR $3) AS slice FROM messages WHERE id = $1`, [
        messageId,
        offset + 1,
        sliceBytes,
      ]);
      const slice = rows[0]?.slice;
      if (!slice) throw new Error(`the body of stored message ${messageId} is no longer stored`);
      if (slice.length > 0) yield slice;
      if (slice.length < sliceBytes) return;
    }
  }
  return { stream: () => Readable.from(slices(), { objectMode: false }) };
}

export interface ExpiryResult {
  expiredCopies: number;
  expiredChallenges: number;
  purgedBodies: number;
}

/**
 * Deletes held and discarded copies past their retention (the row stays as history, the body goes once
 * no copy needs it) and expires challenges past their validity.
 */
export async function expireOld(db: Db, now: Date): Promise<ExpiryResult> {
  return withTransaction(db, async (tx) => {
    const copies = await tx.query(
      `UPDATE message_recipients SET status = 'expired'
        WHERE status IN ('held', 'discarded') AND expires_at <= $1 `,
      [now],
    );
    const challenges = await tx.query(
      `UPDATE challenges SET status = 'expired' WHERE status IN ('queued', 'sent') AND expires_at <= $1`,
      [now],
    );
    const purged = await tx.query(
      `UPDATE messages m SET raw = NULL
        WHERE m.raw IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM message_recipients r
                           WHERE r.message_id = m.id AND r.status IN ('held', 'discarded', 'releasing', 'failed'))`,
    );
    return { expiredCopies: copies.rowCount ?? 0, expiredChallenges: challenges.rowCount ?? 0, purgedBodies: purged.rowCount ?? 0 };
  });
}

/**
 * Copies of this exact message (same bytes) already accepted for these users within the last day. An
 * MTA that lost our 250 (a crash or a dropped connection after we committed) sends the message again:
 * it must find it already there, not get a second copy.
 */
export async function findRecentCopies(db: Queryable, sha256: string, userIds: number[]): Promise<Map<number, { decision: DecisionAction; status: RecipientStatus }>> {
  const out = new Map<number, { decision: DecisionAction; status: RecipientStatus }>();
  if (userIds.length === 0) return out;
  const { rows } = await db.query<{ user_id: number; decision: DecisionAction; status: RecipientStatus }>(
    `SELECT DISTINCT ON (r.user_id) r.user_id, r.decision, r.status
       FROM messages m JOIN message_recipients r ON r.message_id = m.id
      WHERE m.sha256 = $1 AND m.received_at > now() - interval '1 day' AND r.user_id = ANY($2::bigint[])
      ORDER BY r.user_id, r.id`,
    [sha256, userIds],
  );
  for (const r of rows) out.set(r.user_id, { decision: r.decision, status: r.status });
  return out;
}
