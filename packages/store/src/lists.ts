/** Per-recipient whitelists and blacklists of sender addresses and domains. */
import { domainAndParents, domainOf, normalizeAddress, normalizeDomain, type ListKind, type ListMatch, type ListName } from '@crgate/core';
import type { Queryable } from './db.js';

export type { ListKind, ListName };
export type ListSource = 'confirmed' | 'outgoing' | 'manual' | 'import';

export interface ListEntry {
  id: number;
  userId: number;
  list: ListName;
  kind: ListKind;
  value: string;
  source: ListSource;
  createdAt: Date;
}

/** How a sender authenticated when an entry was made (see ListMatch.auth). */
export interface EntryAuth {
  dkimDomains: string[];
}

/** An entry's value as stored and compared: a normalised address, or a domain without a leading `@`. */
export function listEntryValue(entry: { kind: ListKind; value: string }): string {
  return entry.kind === 'address' ? normalizeAddress(entry.value) : normalizeDomain(entry.value.trim().replace(/^@/, ''));
}

export async function addListEntry(
  db: Queryable,
  entry: { userId: number; list: ListName; kind: ListKind; value: string; source: ListSource; auth?: EntryAuth },
): Promise<void> {
  const value = listEntryValue(entry);
  await db.query(
    `INSERT INTO list_entries (user_id, list, kind, value, source, auth) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (user_id, list, kind, value) DO NOTHING`,
    [entry.userId, entry.list, entry.kind, value, entry.source, entry.auth ? JSON.stringify(entry.auth) : null],
  );
}

export async function listEntries(db: Queryable, userId: number, list?: ListName): Promise<ListEntry[]> {
  const { rows } = await db.query(
    `SELECT id, user_id, list, kind, value, source, created_at FROM list_entries
      WHERE user_id = $1 AND ($2::text IS NULL OR list = $2) ORDER BY list, kind, value`,
    [userId, list ?? null],
  );
  return rows.map((r) => ({ id: r.id, userId: r.user_id, list: r.list, kind: r.kind, value: r.value, source: r.source, createdAt: r.created_at }));
}

export interface SenderListMatches {
  white?: ListMatch;
  black?: ListMatch;
}

/**
 * The list entries of each given user that match `sender`: its address, or its domain or a parent
 * domain of it (an entry `example.org` covers `mail.example.org`). An address match is preferred to a
 * domain match in the result because it is the more specific statement.
 */
export async function findSenderMatches(db: Queryable, userIds: number[], sender: string): Promise<Map<number, SenderListMatches>> {
  const result = new Map<number, SenderListMatches>();
  if (!sender || userIds.length === 0) return result;
  const address = normalizeAddress(sender);
  const domains = domainAndParents(domainOf(address));
  const { rows } = await db.query<{ user_id: number; list: ListName; kind: ListKind; value: string; source: string; auth: EntryAuth | null }>(
    `SELECT user_id, list, kind, value, source, auth FROM list_entries
      WHERE user_id = ANY($1::bigint[])
        AND ((kind = 'address' AND value = $2) OR (kind = 'domain' AND value = ANY($3::text[])))`,
    [userIds, address, domains],
  );
  for (const row of rows) {
    const matches = result.get(row.user_id) ?? {};
    const current = matches[row.list];
    if (!current || (current.kind === 'domain' && row.kind === 'address')) {
      matches[row.list] = { kind: row.kind, value: row.value, source: row.source, ...(row.auth ? { auth: row.auth } : {}) };
    }
    result.set(row.user_id, matches);
  }
  return result;
}

export async function setSenderOptOut(db: Queryable, sender: string, noChallenge: boolean): Promise<void> {
  await db.query(
    `INSERT INTO sender_preferences (address, no_challenge) VALUES ($1, $2)
     ON CONFLICT (address) DO UPDATE SET no_challenge = EXCLUDED.no_challenge, updated_at = now()`,
    [normalizeAddress(sender), noChallenge],
  );
}

/** The senders who asked never to be challenged, with when they asked; oldest first. */
export async function optedOutSenders(db: Queryable): Promise<Array<{ address: string; since: Date }>> {
  const { rows } = await db.query<{ address: string; updated_at: Date }>(
    'SELECT address, updated_at FROM sender_preferences WHERE no_challenge ORDER BY updated_at, address',
  );
  return rows.map((r) => ({ address: r.address, since: r.updated_at }));
}

export async function isSenderOptedOut(db: Queryable, sender: string): Promise<boolean> {
  if (!sender) return false;
  const { rows } = await db.query<{ no_challenge: boolean }>('SELECT no_challenge FROM sender_preferences WHERE address = $1', [
    normalizeAddress(sender),
  ]);
  return rows[0]?.no_challenge ?? false;
}

/** Removes an entry; returns false when there was none. */
export async function removeListEntry(db: Queryable, entry: { userId: number; list: ListName; kind: ListKind; value: string }): Promise<boolean> {
  const value = listEntryValue(entry);
  const res = await db.query('DELETE FROM list_entries WHERE user_id = $1 AND list = $2 AND kind = $3 AND value = $4', [
    entry.userId,
    entry.list,
    entry.kind,
    value,
  ]);
  return (res.rowCount ?? 0) > 0;
}
