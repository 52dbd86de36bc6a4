/**
 * Month arithmetic of the stored-message partitions (store migration 009): messages and their copies
 * are partitioned by the UTC month they were received in, created a few months ahead and dropped whole
 * once the month is past the history retention. Pure: the store applies these answers.
 */

const DAY_MS = 86_400_000;

/** First instant (UTC) of the month containing `at`. */
export function monthStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** First instant of the month `n` months after the month containing `at` (n may be negative). */
export function addMonths(at: Date, n: number): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + n, 1));
}

/** `YYYYMM`, the suffix of a month's partition names (messages_p202611, message_recipients_p202611). */
export function monthSuffix(at: Date): string {
  return `${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The month a `YYYYMM` partition suffix names, or undefined when it is not one. */
export function monthOfSuffix(suffix: string): Date | undefined {
  const m = /^(\d{4})(\d{2})$/.exec(suffix);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) return undefined;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
}

/** The months whose partitions should exist now: this one and the next `ahead`. */
export function monthsToPrepare(now: Date, ahead: number): Date[] {
  return Array.from({ length: ahead + 1 }, (_, i) => addMonths(now, i));
}

/**
 * Records received before this instant are past the history retention; undefined when history is kept
 * forever (historyDays 0).
 */
export function historyCutoff(now: Date, historyDays: number): Date | undefined {
  return historyDays > 0 ? new Date(now.getTime() - historyDays * DAY_MS) : undefined;
}

/** A month's partitions may go once the whole month (its end included) is older than the cutoff. */
export function monthPastHistory(month: Date, now: Date, historyDays: number): boolean {
  const cutoff = historyCutoff(now, historyDays);
  return cutoff !== undefined && addMonths(month, 1).getTime() <= cutoff.getTime();
}
