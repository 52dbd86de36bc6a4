/**
 * PostgreSQL access: the pool, creating the database when it is missing, transactions, and the
 * migration runner. Migrations are the numbered .sql files in ../migrations, applied in order, each in
 * its own transaction, under an advisory lock so several roles starting at once apply them once.
 */
import pg from 'pg';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@crgate/core';

export type Db = pg.Pool;
export type DbClient = pg.PoolClient;
/** Anything that runs a query: the pool or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));
const MIGRATION_LOCK = 0x63726761; // "crga"

// bigint ids (int8) come back as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export function createPool(databaseUrl: string, options: { max?: number } = {}): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.max ?? 10, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server emits 'error' on the pool; without a listener that kills the process.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Creates the database named in the URL if it does not exist (connecting to the `postgres` database to
 * do so); with `create` false, a missing database is an error instead.
 */
export async function ensureDatabase(databaseUrl: string, logger: Logger, create = true): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  client.on('error', ignoreCheckedOutError);
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      if (!create) throw new Error(`database "${name}" does not exist (\`crgate migrate\` creates it)`);
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
        logger.info({ event: 'db.created', database: name }, `created database ${name}`);
      } catch (err) {
        // Another role created it at the same moment: 42P04 when its CREATE had committed before ours
        // began, 23505 (pg_database's unique name index) when both were under way at once.
        const code = (err as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * A client checked out of the pool has no error listener of the pool's: if its connection dies between
 * two of our queries (PostgreSQL restarted), pg emits 'error' on it, and without a listener that
 * crashes the process. The next query fails anyway and is handled where it is made.
 */
const ignoreCheckedOutError = (): void => undefined;

export async function withTransaction<T>(db: Db, fn: (client: DbClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  client.on('error', ignoreCheckedOutError);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A connection that cannot even roll back is dead: destroy it rather than return it to the pool.
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.off('error', ignoreCheckedOutError);
    client.release(broken);
  }
}

/**
 * Runs `fn` while this process holds the session advisory lock `key`, on a connection of its own kept
 * for the while; resolves to undefined without running it when another process holds the lock. For
 * upkeep that must not run twice at once but need not wait: the other one is doing it.
 */
export async function withTryLock<T>(db: Db, key: string, fn: () => Promise<T>): Promise<T | undefined> {
  const client = await db.connect();
  client.on('error', ignoreCheckedOutError);
  let locked = false;
  try {
    locked = (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key])).rows[0]!.locked;
    return locked ? await fn() : undefined;
  } finally {
    let broken: Error | undefined;
    if (locked) await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch((e: Error) => (broken = e));
    client.off('error', ignoreCheckedOutError);
    // A connection that could not give the lock back still holds it: destroyed, it lets it go.
    client.release(broken);
  }
}

export async function migrate(db: Db, logger: Logger): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const client = await db.connect();
  client.on('error', ignoreCheckedOutError);
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
    // A newer crgate migrated this database: this older code would read and write tables it does not
    // know the shape of (a role left over after an upgrade, or an old image started by mistake).
    const unknown = [...done].filter((name) => !files.includes(name)).sort();
    if (unknown.length) {
      throw new Error(
        `the database was migrated by a newer crgate (${unknown.join(', ')} unknown to this version); run the version that migrated it, or newer`,
      );
    }
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = await readFile(MIGRATIONS_DIR + file, 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(file);
      logger.info({ event: 'db.migrated', migration: file }, `applied migration ${file}`);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.off('error', ignoreCheckedOutError);
    client.release();
  }
  return applied;
}

/**
 * Ensures the database exists (creating it unless `create` is false), opens a pool and applies
 * pending migrations.
 */
export async function openDatabase(databaseUrl: string, logger: Logger, options: { max?: number; create?: boolean } = {}): Promise<Db> {
  await ensureDatabase(databaseUrl, logger, options.create ?? true);
  const db = createPool(databaseUrl, options);
  try {
    await migrate(db, logger);
  } catch (err) {
    await db.end();
    throw err;
  }
  return db;
}
