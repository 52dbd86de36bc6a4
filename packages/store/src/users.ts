/** Users (protected recipients) and their addresses. Addresses are stored normalised (core/address). */
import { normalizeAddress } from '@crgate/core';
import type { Db, Queryable } from './db.js';
import { withTransaction } from './db.js';

export interface User {
  id: number;
  address: string;
  aliases: string[];
  challengesEnabled: boolean;
  language: string;
  /** May see the operator overview of the site (counts of every user's mail). */
  isAdmin: boolean;
  createdAt: Date;
}

export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * Adds a user (an admin with `admin: true`); returns false when the address already belongs to one (as
 * primary or alias), which is left as it was.
 */
export async function addUser(db: Db, address: string, options: { admin?: boolean } = {}): Promise<boolean> {
  const addr = normalizeAddress(address);
  return withTransaction(db, async (tx) => {
    const taken = await tx.query('SELECT 1 FROM user_addresses WHERE address = $1', [addr]);
    if (taken.rowCount) return false;
    const { rows } = await tx.query<{ id: number }>('INSERT INTO users (address, is_admin) VALUES ($1, $2) RETURNING id', [addr, options.admin ?? false]);
    await tx.query('INSERT INTO user_addresses (address, user_id, is_primary) VALUES ($1, $2, true)', [addr, rows[0]!.id]);
    return true;
  });
}

/**
 * Removes a user with all their aliases, lists, held mail and classifier model. Returns false when
 * there was none.
 */
export async function removeUser(db: Db, address: string): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    const res = await tx.query<{ id: number }>('DELETE FROM users WHERE address = $1 RETURNING id', [normalizeAddress(address)]);
    const id = res.rows[0]?.id;
    if (id === undefined) return false;
    // The model's scope is the user id, which no foreign key ties to the user: without this the
    // tokens of their mail (words of it) outlived the user, unused by anyone, for good.
    for (const table of ['classifier_tokens', 'classifier_totals', 'classifier_trained']) {
      await tx.query(`DELETE FROM ${table} WHERE scope = $1`, [id]);
    }
    return true;
  });
}

export async function addAlias(db: Db, address: string, alias: string): Promise<void> {
  const addr = normalizeAddress(address);
  const ali = normalizeAddress(alias);
  await withTransaction(db, async (tx) => {
    const user = await tx.query<{ id: number }>('SELECT id FROM users WHERE address = $1', [addr]);
    if (!user.rowCount) throw new UserError(`no user ${addr}`);
    const owner = await tx.query<{ user_id: number }>('SELECT user_id FROM user_addresses WHERE address = $1', [ali]);
    if (owner.rowCount) {
      if (owner.rows[0]!.user_id === user.rows[0]!.id) return;
      throw new UserError(`${ali} already belongs to another user`);
    }
    await tx.query('INSERT INTO user_addresses (address, user_id, is_primary) VALUES ($1, $2, false)', [ali, user.rows[0]!.id]);
  });
}

/** Grants (or with `false` revokes) the admin flag of the user with this primary address or alias. */
export async function setAdmin(db: Queryable, address: string, admin: boolean): Promise<void> {
  const addr = normalizeAddress(address);
  const res = await db.query('UPDATE users SET is_admin = $2 WHERE id = (SELECT user_id FROM user_addresses WHERE address = $1)', [addr, admin]);
  if (!res.rowCount) throw new UserError(`no user ${addr}`);
}

interface UserRow {
  id: number;
  address: string;
  aliases: string[] | null;
  challenges_enabled: boolean;
  language: string;
  is_admin: boolean;
  created_at: Date;
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    address: row.address,
    aliases: row.aliases ?? [],
    challengesEnabled: row.challenges_enabled,
    language: row.language,
    isAdmin: row.is_admin,
    createdAt: row.created_at,
  };
}

const USER_SELECT = `
  SELECT u.id, u.address, u.challenges_enabled, u.language, u.is_admin, u.created_at,
         array_remove(array_agg(a.address ORDER BY a.address) FILTER (WHERE NOT a.is_primary), NULL) AS aliases
    FROM users u LEFT JOIN user_addresses a ON a.user_id = u.id`;

export async function listUsers(db: Queryable): Promise<User[]> {
  const { rows } = await db.query<UserRow>(`${USER_SELECT} GROUP BY u.id ORDER BY u.address`);
  return rows.map(toUser);
}

/** The user an address (primary or alias, any case, with or without +tag) delivers to. */
export async function findUserByAddress(db: Queryable, address: string): Promise<User | undefined> {
  // Asked at every RCPT: prepared once per connection.
  const { rows } = await db.query<UserRow>({
    name: 'crgate.user_by_address',
    text: `${USER_SELECT} WHERE u.id = (SELECT user_id FROM user_addresses WHERE address = $1) GROUP BY u.id`,
    values: [normalizeAddress(address)],
  });
  return rows[0] ? toUser(rows[0]) : undefined;
}

export async function findUserById(db: Queryable, id: number): Promise<User | undefined> {
  const { rows } = await db.query<UserRow>(`${USER_SELECT} WHERE u.id = $1 GROUP BY u.id`, [id]);
  return rows[0] ? toUser(rows[0]) : undefined;
}

/** Every domain crgate protects: the domains of all user addresses and aliases. */
export async function listLocalDomains(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ domain: string }>(`SELECT DISTINCT split_part(address, '@', 2) AS domain FROM user_addresses`);
  return rows.map((r) => r.domain);
}
