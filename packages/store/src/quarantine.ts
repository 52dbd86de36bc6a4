/**
 * The recipient's quarantine: their held and discarded copies, one copy, and what they can do with
 * them. Every query names the user (`user_id = $n`) in its own WHERE clause, so an id that belongs to
 * somebody else matches nothing: ownership is enforced by the SQL, not by a check before it.
 */
import type { DecisionAction } from '@crgate/core';
import type { Db, Queryable } from './db.js';
import { withTransaction } from './db.js';
import { addListEntry } from './lists.js';
import { enqueueOutbox } from './outbox.js';
import { jobIds } from './queues.js';
import type { RecipientStatus } from './messages.js';
import { storableText } from './storable.js';

export type QuarantineSort = 'date' | 'score';

export interface QuarantineQuery {
  userId: number;
  /** Words matched in the sender, the From: header and the subject (case-insensitive substring). */
  search?: string;
  decision?: Exclude<DecisionAction, 'deliver'>;
  /** A reason symbol the copy must carry, e.g. UNKNOWN_SENDER. */
  reason?: string;
  sort?: QuarantineSort;
  /** The `next` cursor of the previous page. */
  after?: string;
  limit?: number;
}

export interface ReasonRecord {
  symbol: string;
  weight: number;
  detail: string;
}

export interface QuarantineItem {
  id: number;
  sender: string;
  fromHeader: string | null;
  subject: string | null;
  /** When crgate received it. */
  receivedAt: Date;
  /** The Date: header, if it had a valid one. */
  dateHeader: Date | null;
  decision: DecisionAction;
  status: RecipientStatus;
  reasons: ReasonRecord[];
  score: number | null;
  size: number;
  challenge: { status: string; createdAt: Date; sentAt: Date | null } | null;
}

export interface QuarantinePage {
  items: QuarantineItem[];
  /** Cursor of the next (older, or lower-scored) page; undefined on the last page. */
  next?: string;
}

export class QuarantineQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuarantineQueryError';
  }
}

/** Escapes LIKE wildcards so that `%` and `_` typed by the user match themselves. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const DATE_CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)_(\d{1,15})$/;
const SCORE_CURSOR = /^(-1|\d(?:\.\d{1,17})?(?:e-\d{1,3})?)_(\d{1,15})$/;

/**
 * A cursor's values are checked here, not left to PostgreSQL: an edited URL with the right shape but
 * an impossible value (30 February, year 0, 9e-999) would otherwise fail the query, an error page
 * instead of the first page.
 */
function cursorDate(text: string): string | undefined {
  const seconds = text.slice(0, 19);
  const date = new Date(`${seconds}Z`);
  return date.getUTCFullYear() >= 1 && date.toISOString().slice(0, 19) === seconds ? text : undefined;
}

/** A score (0…1) or −1, which stands for "no score"; sent as a number, so 9e-999 is simply 0. */
function cursorScore(text: string): number | undefined {
  const score = Number(text);
  return score === -1 || (score >= 0 && score <= 1) ? score : undefined;
}

function toItem(row: Record<string, any>): QuarantineItem {
  return {
    id: row.id,
    sender: row.sender,
    fromHeader: row.from_header,
    subject: row.subject,
    receivedAt: row.created_at,
    dateHeader: row.date_header,
    decision: row.decision,
    status: row.status,
    reasons: Array.isArray(row.reasons) ? row.reasons : [],
    score: row.score,
    size: row.size,
    challenge: row.challenge_status ? { status: row.challenge_status, createdAt: row.challenge_created_at, sentAt: row.challenge_sent_at } : null,
  };
}

const ITEM_COLUMNS = `r.id, r.sender, r.decision, r.status, r.reasons, r.created_at, r.score,
       m.subject, m.from_header, m.date_header, m.size,
       c.status AS challenge_status, c.created_at AS challenge_created_at, c.sent_at AS challenge_sent_at`;

/** One page of the user's held and discarded copies, newest (or highest score) first. */
export async function listQuarantine(db: Queryable, q: QuarantineQuery): Promise<QuarantinePage> {
  const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
  const sort = q.sort ?? 'date';
  const params: unknown[] = [q.userId];
  const where = [`r.user_id = $1`, `r.status IN ('held', 'discarded')`];
  const param = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (q.decision) where.push(`r.decision = ${param(q.decision)}`);
  if (q.reason) {
    if (!/^[A-Z0-9_]{1,64}$/.test(q.reason)) throw new QuarantineQueryError('not a reason symbol');
    where.push(`r.reasons @> ${param(JSON.stringify([{ symbol: q.reason }]))}::jsonb`);
  }
  // Typed text, stored text: made storable the same way (no NUL reaches PostgreSQL).
  const search = q.search === undefined ? undefined : storableText(q.search).trim();
  if (search) {
    const p = param(likePattern(search.slice(0, 200)));
    where.push(`(r.sender ILIKE ${p} OR m.from_header ILIKE ${p} OR m.subject ILIKE ${p})`);
  }
  const key = sort === 'score' ? 'COALESCE(r.score, -1)' : 'r.created_at';
  if (q.after) {
    const m = (sort === 'score' ? SCORE_CURSOR : DATE_CURSOR).exec(q.after);
    const value = m ? (sort === 'score' ? cursorScore(m[1]!) : cursorDate(m[1]!)) : undefined;
    if (!m || value === undefined) throw new QuarantineQueryError('not a page cursor');
    const cast = sort === 'score' ? 'double precision' : 'timestamptz';
    where.push(`(${key}, r.id) < (${param(value)}::${cast}, ${param(Number(m[2]))}::bigint)`);
  }
  const cursorExpr =
    sort === 'score' ? `COALESCE(r.score, -1)::text` : `to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
  const { rows } = await db.query(
    `SELECT ${ITEM_COLUMNS}, ${cursorExpr} AS cursor_key
       FROM message_recipients r
       JOIN messages m ON m.id = r.message_id
       LEFT JOIN challenges c ON c.id = r.challenge_id
      WHERE ${where.join(' AND ')}
      ORDER BY ${key} DESC, r.id DESC
      LIMIT ${limit + 1}`,
    params,
  );
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page.at(-1);
  return { items: page.map(toItem), ...(more && last ? { next: `${last.cursor_key}_${last.id}` } : {}) };
}

export interface QuarantineCounts {
  held: number;
  discarded: number;
  /** Set when there are more than `cap` copies: then only this is known, and held/discarded are not counted. */
  moreThan?: number;
}

/**
 * How many copies the user has held and discarded, counted up to `cap`. An exact count reads every
 * copy: in the bench, at a million held copies, an uncapped count cost each quarantine page most of a
 * second, and one capped at 10,000 still 10 to 19 ms, more than the page's listing itself. Past the cap
 * the page says "more than 1,000" instead.
 */
export async function countQuarantine(db: Queryable, userId: number, cap = 1_000): Promise<QuarantineCounts> {
  const { rows } = await db.query<{ held: number; discarded: number }>(
    `SELECT count(*) FILTER (WHERE status = 'held')::int AS held, count(*) FILTER (WHERE status = 'discarded')::int AS discarded
       FROM (SELECT status FROM message_recipients WHERE user_id = $1 AND status IN ('held', 'discarded') LIMIT $2) AS s`,
    [userId, cap + 1],
  );
  const counts = rows[0] ?? { held: 0, discarded: 0 };
  return counts.held + counts.discarded > cap ? { held: 0, discarded: 0, moreThan: cap } : counts;
}

export interface QuarantinedMessage extends QuarantineItem {
  rcptTo: string;
  envelopeSender: string;
  clientAddress: string | null;
  clientHelo: string | null;
  messageIdHeader: string | null;
  auth: unknown;
  expiresAt: Date | null;
  statusDetail: string | null;
  /** The first `bodyBytes` of the message as received (all of it when smaller); null when not asked for or deleted. */
  raw: Buffer | null;
  /** Whether the body is still stored. */
  bodyStored: boolean;
}

/**
 * One copy of the user's, whatever its status; undefined when the id is not one of theirs. The body is
 * read only when asked for, and only its first `bodyBytes`: a page about a 50 MB message need not
 * hold all of it.
 */
export async function getQuarantinedMessage(
  db: Queryable,
  userId: number,
  recipientId: number,
  opts: { bodyBytes?: number } = {},
): Promise<QuarantinedMessage | undefined> {
  const raw = opts.bodyBytes === undefined ? 'NULL::bytea AS raw' : 'substring(m.raw FROM 1 FOR $3) AS raw';
  const { rows } = await db.query(
    `SELECT ${ITEM_COLUMNS}, r.rcpt_to, r.expires_at, r.status_detail,
            m.mail_from, m.client_address, m.client_helo, m.message_id_header, m.auth, ${raw}, m.raw IS NOT NULL AS body_stored
       FROM message_recipients r
       JOIN messages m ON m.id = r.message_id
       LEFT JOIN challenges c ON c.id = r.challenge_id
      WHERE r.id = $1 AND r.user_id = $2`,
    opts.bodyBytes === undefined ? [recipientId, userId] : [recipientId, userId, opts.bodyBytes],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    ...toItem(row),
    rcptTo: row.rcpt_to,
    envelopeSender: row.mail_from,
    clientAddress: row.client_address,
    clientHelo: row.client_helo,
    messageIdHeader: row.message_id_header,
    auth: row.auth,
    expiresAt: row.expires_at,
    statusDetail: row.status_detail,
    raw: row.raw,
    bodyStored: row.body_stored,
  };
}

/** The status detail of a copy the recipient marked as spam (the digest leaves such copies out). */
export const MARKED_SPAM_DETAIL = 'marked as spam by the recipient';

export type QuarantineAction = 'release' | 'release-whitelist' | 'delete' | 'spam' | 'spam-blacklist';
export const QUARANTINE_ACTIONS: readonly QuarantineAction[] = ['release', 'release-whitelist', 'delete', 'spam', 'spam-blacklist'];

export interface ActionResult {
  /** Copies the action changed (ids that are not the user's, or no longer held, are not counted). */
  copies: number;
  /** Senders added to a list. */
  listed: string[];
}

/** Normalised senders of the given copies, with the DKIM domains that signed them (for a whitelist entry). */
async function sendersOf(tx: Queryable, userId: number, ids: number[]): Promise<Map<string, string[]>> {
  const { rows } = await tx.query<{ sender: string; domains: string[] | null }>(
    `SELECT r.sender,
            array_agg(DISTINCT sig->>'domain') FILTER (WHERE sig->>'result' = 'pass') AS domains
       FROM message_recipients r JOIN messages m ON m.id = r.message_id
       LEFT JOIN LATERAL jsonb_array_elements(COALESCE(m.auth->'dkim', '[]'::jsonb)) AS sig ON true
      WHERE r.id = ANY($1::bigint[]) AND r.user_id = $2 AND r.status IN ('held', 'discarded') AND r.sender <> ''
      GROUP BY r.sender`,
    [ids, userId],
  );
  return new Map(rows.map((r) => [r.sender, (r.domains ?? []).filter(Boolean).sort()]));
}

async function removeAddressEntry(tx: Queryable, userId: number, list: 'white' | 'black', address: string): Promise<void> {
  await tx.query(`DELETE FROM list_entries WHERE user_id = $1 AND list = $2 AND kind = 'address' AND value = $3`, [userId, list, address]);
}

/**
 * Applies an action to some of the user's held or discarded copies, in one transaction:
 *
 * - release: the copies become `releasing`, each with a `message.deliver` outbox job (as a
 *   confirmation does) and a `classifier.train` ham job: the recipient said the mail is wanted;
 * - release-whitelist: the same, and each sender's address goes on the whitelist (source `manual`),
 *   remembering the DKIM domains that signed the released mail, as a confirmation does (and an address
 *   entry on the blacklist for the same sender is removed);
 * - delete: the copies become `expired` ("deleted by the recipient"), and a message body no copy
 *   needs any more is deleted at once, as the expiry sweep does;
 * - spam: a `classifier.train` spam job (weight 1) for each copy; held copies become `discarded`, so
 *   they stay visible until their expiry and can still be released;
 * - spam-blacklist: the same, and each sender's address goes on the blacklist (source `manual`),
 *   replacing an address entry on the whitelist.
 */
export async function applyQuarantineAction(db: Db, userId: number, ids: number[], action: QuarantineAction): Promise<ActionResult> {
  const wanted = [...new Set(ids.filter((id) => Number.isSafeInteger(id) && id > 0))];
  if (wanted.length === 0) return { copies: 0, listed: [] };
  return withTransaction(db, async (tx) => {
    const listed: string[] = [];
    if (action === 'release' || action === 'release-whitelist') {
      const senders = action === 'release-whitelist' ? await sendersOf(tx, userId, wanted) : new Map<string, string[]>();
      const { rows } = await tx.query<{ id: number }>(
        `UPDATE message_recipients SET status = 'releasing', status_detail = 'released by the recipient'
          WHERE id = ANY($1::bigint[]) AND user_id = $2 AND status IN ('held', 'discarded') RETURNING id`,
        [wanted, userId],
      );
      for (const { id } of rows) {
        await enqueueOutbox(tx, 'message.deliver', jobIds.deliver(id), { recipientId: id });
        await enqueueOutbox(tx, 'classifier.train', jobIds.train(id, 'ham'), { recipientId: id, label: 'ham', weight: 1 });
      }
      for (const [sender, dkimDomains] of senders) {
        // The recipient's latest word wins: a sender they whitelist is no longer blacklisted.
        await removeAddressEntry(tx, userId, 'black', sender);
        await addListEntry(tx, { userId, list: 'white', kind: 'address', value: sender, source: 'manual', auth: { dkimDomains } });
        listed.push(sender);
      }
      return { copies: rows.length, listed };
    }
    if (action === 'delete') {
      const { rows } = await tx.query<{ message_id: number }>(
        `UPDATE message_recipients SET status = 'expired', status_detail = 'deleted by the recipient'
          WHERE id = ANY($1::bigint[]) AND user_id = $2 AND status IN ('held', 'discarded') RETURNING message_id`,
        [wanted, userId],
      );
      if (rows.length) {
        await tx.query(
          `UPDATE messages m SET raw = NULL
            WHERE m.id = ANY($1::bigint[]) AND m.raw IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM message_recipients r
                               WHERE r.message_id = m.id AND r.status IN ('held', 'discarded', 'releasing', 'failed'))`,
          [rows.map((r) => r.message_id)],
        );
      }
      return { copies: rows.length, listed };
    }
    // spam, spam-blacklist
    const senders = action === 'spam-blacklist' ? await sendersOf(tx, userId, wanted) : new Map<string, string[]>();
    const { rows } = await tx.query<{ id: number }>(
      `UPDATE message_recipients SET status = 'discarded', status_detail = $3
        WHERE id = ANY($1::bigint[]) AND user_id = $2 AND status IN ('held', 'discarded') RETURNING id`,
      [wanted, userId, MARKED_SPAM_DETAIL],
    );
    for (const { id } of rows) {
      await enqueueOutbox(tx, 'classifier.train', jobIds.train(id, 'spam'), { recipientId: id, label: 'spam', weight: 1 });
    }
    for (const sender of senders.keys()) {
      await removeAddressEntry(tx, userId, 'white', sender);
      await addListEntry(tx, { userId, list: 'black', kind: 'address', value: sender, source: 'manual' });
      listed.push(sender);
    }
    return { copies: rows.length, listed };
  });
}
