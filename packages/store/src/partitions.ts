/**
 * Upkeep of the month partitions of `messages` and `message_recipients` (migration 009), run by the
 * worker's hourly expiry job: partitions for the coming months are created ahead of the mail, and a
 * month past the history retention is dropped whole — both tables' partitions of that month together,
 * since a message and its copies share the message's received_at. A month that still holds a copy
 * somebody may need (held, discarded, being released, or a failed release) is never dropped: its
 * finished copies are deleted row by row instead, and the rest waits.
 */
import { addMonths, historyCutoff, monthOfSuffix, monthPastHistory, monthsToPrepare, monthSuffix } from '@crgate/core';
import type { Db, Queryable } from './db.js';
import { withTransaction, withTryLock } from './db.js';

/** Statuses of a copy that still needs its message (anything else is finished: history only). */
export const OPEN_COPY_STATUSES = ['held', 'discarded', 'releasing', 'failed'] as const;

/**
 * How long the upkeep waits for the tables' locks. Creating or dropping a partition briefly locks the
 * whole table, and an ingest insert queued behind the request waits too: better to try again next hour.
 */
const LOCK_TIMEOUT = '3s';
const UNDEFINED_TABLE = '42P01';
const LOCK_NOT_AVAILABLE = '55P03';

export interface MonthPartition {
  /** First instant (UTC) of the month. */
  month: Date;
  suffix: string;
}

/** The month partitions of `messages` (the default partition is not one), oldest first. */
export async function listMonthPartitions(db: Queryable): Promise<MonthPartition[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'messages'::regclass`,
  );
  const out: MonthPartition[] = [];
  for (const { name } of rows) {
    const suffix = /^messages_p(\d{6})$/.exec(name)?.[1];
    const month = suffix ? monthOfSuffix(suffix) : undefined;
    if (suffix && month) out.push({ month, suffix });
  }
  return out.sort((a, b) => a.month.getTime() - b.month.getTime());
}

/**
 * Creates the partitions of this month and the next `ahead` months that do not exist yet (rows the
 * default partition caught for such a month move into it). Returns the suffixes created.
 */
export async function prepareMonthPartitions(db: Db, now: Date, ahead = 2): Promise<string[]> {
  const created: string[] = [];
  for (const month of monthsToPrepare(now, ahead)) {
    const made = await withTransaction(db, async (tx) => {
      await tx.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      const { rows } = await tx.query<{ made: boolean }>('SELECT crgate_create_month_partition($1) AS made', [month]);
      return rows[0]!.made;
    }).catch((err: { code?: string }) => {
      // Busy tables: the partitions are made months ahead, so the next hour is soon enough.
      if (err.code === LOCK_NOT_AVAILABLE) return false;
      throw err;
    });
    if (made) created.push(monthSuffix(month));
  }
  return created;
}

export interface HistoryExpiry {
  /** Months whose partitions were dropped (YYYYMM). */
  droppedMonths: string[];
  /** Months past the retention kept because a copy in them is still open (YYYYMM). */
  keptMonths: string[];
  /** Finished copies and messages deleted row by row (kept months and the default partition). */
  deletedCopies: number;
  deletedMessages: number;
}

async function hasOpenCopies(tx: Queryable, recipients: string): Promise<boolean> {
  // Each half is served by a partial index with the same predicate (message_recipients_expiry and
  // message_recipients_unfinished), so this is two index probes however large the month: the literal
  // lists must stay literal, a parameter would not let the planner match the index predicates.
  const { rows } = await tx.query<{ open: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM ${recipients} WHERE status IN ('held', 'discarded'))
         OR EXISTS (SELECT 1 FROM ${recipients} WHERE status IN ('releasing', 'failed')) AS open`,
  );
  return rows[0]!.open;
}

/**
 * Deletes the finished copies received before `before` in one partition pair, then the messages no copy
 * refers to any more. Copies go first, so a message is never deleted under a copy that needs it.
 */
async function deleteFinishedRows(db: Db, messages: string, recipients: string, before: Date): Promise<{ copies: number; messages: number }> {
  return withTransaction(db, async (tx) => {
    const copies = await tx.query(`DELETE FROM ${recipients} WHERE received_at < $1 AND NOT (status = ANY($2::text[]))`, [
      before,
      OPEN_COPY_STATUSES,
    ]);
    const gone = await tx.query(
      `DELETE FROM ${messages} m WHERE m.received_at < $1
          AND NOT EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = m.id AND r.received_at = m.received_at)`,
      [before],
    );
    return { copies: copies.rowCount ?? 0, messages: gone.rowCount ?? 0 };
  });
}

/**
 * Drops each month whose end is older than the history retention and that holds no open copy; in a
 * month that does, and in the default partition, deletes the finished rows older than the retention.
 * historyDays 0 keeps everything.
 */
export async function expireHistory(db: Db, now: Date, historyDays: number): Promise<HistoryExpiry> {
  const result: HistoryExpiry = { droppedMonths: [], keptMonths: [], deletedCopies: 0, deletedMessages: 0 };
  const cutoff = historyCutoff(now, historyDays);
  if (!cutoff) return result;
  // Two sweeps at once (a worker whose job lock lapsed, two workers after a Redis failover) deadlocked:
  // one deleting a kept month's rows, copies then messages, the other locking both parents to drop
  // the next month, messages then copies. One sweep at a time; the other has nothing left to do.
  return (await withTryLock(db, 'crgate:expire-history', () => expireMonths(db, now, historyDays, cutoff, result))) ?? result;
}

async function expireMonths(db: Db, now: Date, historyDays: number, cutoff: Date, result: HistoryExpiry): Promise<HistoryExpiry> {
  for (const { month, suffix } of await listMonthPartitions(db)) {
    if (!monthPastHistory(month, now, historyDays)) continue;
    const messages = `messages_p${suffix}`;
    const recipients = `message_recipients_p${suffix}`;
    try {
      // A first look without the lock: a month kept for an open copy costs the ingest no wait each hour.
      const dropped = !(await hasOpenCopies(db, recipients)) && await withTransaction(db, async (tx) => {
        await tx.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
        // Lock first, then look: no copy can be inserted into or reopened in the month between the look
        // and the drop. Parents in the order the ingest inserts (messages, then copies).
        await tx.query('LOCK TABLE messages, message_recipients IN ACCESS EXCLUSIVE MODE');
        if (await hasOpenCopies(tx, recipients)) return false;
        await tx.query(`DROP TABLE ${recipients}`);
        await tx.query(`DROP TABLE ${messages}`);
        return true;
      });
      if (dropped) {
        result.droppedMonths.push(suffix);
        continue;
      }
      result.keptMonths.push(suffix);
      const deleted = await deleteFinishedRows(db, messages, recipients, addMonths(month, 1));
      result.deletedCopies += deleted.copies;
      result.deletedMessages += deleted.messages;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // The lock was not had within LOCK_TIMEOUT: the tables are busy, so the other months would wait
      // as long; they are all tried again next hour.
      if (code === LOCK_NOT_AVAILABLE) break;
      // Another worker's sweep dropped the month first: nothing left to do here.
      if (code !== UNDEFINED_TABLE) throw err;
    }
  }
  // Rows the default partition caught (a clock far off) follow the same rule, one by one.
  const deleted = await deleteFinishedRows(db, 'messages_default', 'message_recipients_default', cutoff);
  result.deletedCopies += deleted.copies;
  result.deletedMessages += deleted.messages;
  return result;
}
