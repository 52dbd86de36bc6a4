/**
 * The list operations of the recipient's site: entries with their source and date, removing some,
 * and importing many. Every statement names the user, so another user's entry id matches nothing.
 */
import type { Db, Queryable } from './db.js';
import { withTransaction } from './db.js';
import { listEntryValue, type ListEntry, type ListKind, type ListName, type ListSource } from './lists.js';

export async function userListEntries(db: Queryable, userId: number): Promise<ListEntry[]> {
  const { rows } = await db.query(
    `SELECT id, user_id, list, kind, value, source, created_at FROM list_entries WHERE user_id = $1 ORDER BY list DESC, value, kind`,
    [userId],
  );
  return rows.map((r) => ({ id: r.id, userId: r.user_id, list: r.list, kind: r.kind, value: r.value, source: r.source, createdAt: r.created_at }));
}

export async function removeListEntries(db: Queryable, userId: number, ids: number[]): Promise<number> {
  const wanted = ids.filter((id) => Number.isSafeInteger(id) && id > 0);
  if (!wanted.length) return 0;
  const res = await db.query('DELETE FROM list_entries WHERE user_id = $1 AND id = ANY($2::bigint[])', [userId, wanted]);
  return res.rowCount ?? 0;
}

/** Inserts one entry as it is; false when it was there already. */
async function insertEntry(db: Queryable, userId: number, entry: { list: ListName; kind: ListKind; value: string; source: ListSource }): Promise<boolean> {
  const res = await db.query(
    `INSERT INTO list_entries (user_id, list, kind, value, source) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id, list, kind, value) DO NOTHING RETURNING id`,
    [userId, entry.list, entry.kind, listEntryValue(entry), entry.source],
  );
  return (res.rowCount ?? 0) > 0;
}

export interface AddedListEntry {
  /** False when the entry was on the list already. */
  added: boolean;
  /** True when the same entry was on the other list and was taken off it. */
  moved: boolean;
}

/** Puts one entry on its list and takes the same entry off the other list, in the caller's transaction. */
async function putEntry(tx: Queryable, userId: number, entry: { list: ListName; kind: ListKind; value: string; source: ListSource }): Promise<AddedListEntry> {
  const other: ListName = entry.list === 'white' ? 'black' : 'white';
  const removed = await tx.query('DELETE FROM list_entries WHERE user_id = $1 AND list = $2 AND kind = $3 AND value = $4', [
    userId,
    other,
    entry.kind,
    listEntryValue(entry),
  ]);
  return { added: await insertEntry(tx, userId, entry), moved: (removed.rowCount ?? 0) > 0 };
}

/**
 * Adds one entry (normalised as addListEntry does) in one transaction, and takes the same entry (the
 * same address, or the same domain) off the other list: the recipient's latest word wins, as with
 * "Release and whitelist". Left on the blacklist, an address added to the whitelist would still be
 * discarded (the blacklist is checked first). The site's "Add" and `crgate lists add` both use it.
 */
export async function addUserListEntry(
  db: Db,
  userId: number,
  entry: { list: ListName; kind: ListKind; value: string; source: ListSource },
): Promise<AddedListEntry> {
  return withTransaction(db, (tx) => putEntry(tx, userId, entry));
}

/**
 * Adds many entries (source `import`) in one transaction: all or none. As with one entry added by
 * hand, an imported entry leaves the other list; a file naming one entry on both lists ends with its
 * last row. The site's import and `crgate lists import` both use it.
 */
export async function importListEntries(
  db: Db,
  userId: number,
  entries: Array<{ list: ListName; kind: ListKind; value: string }>,
): Promise<{ added: number; moved: number }> {
  return withTransaction(db, async (tx) => {
    let added = 0;
    let moved = 0;
    for (const e of entries) {
      const put = await putEntry(tx, userId, { ...e, source: 'import' });
      if (put.added) added++;
      if (put.moved) moved++;
    }
    return { added, moved };
  });
}
