/**
 * What every command shares: argument parsers, opening the database with the process's configuration,
 * and failing with a message and an exit code.
 */
import { InvalidArgumentError } from 'commander';
import { isAddress, type Config, type Logger } from '@crgate/core';
import { openDatabase, type Db } from '@crgate/store';
import type { SkipReporter } from '@crgate/ingest';
import { configOrExit } from './load-config.js';
import { createLogger } from './logger.js';

/** Exit codes (sysexits.h): 64 usage, 65 bad input data, 69 unavailable service, 78 configuration. */
export const EXIT = { failure: 1, usage: 64, data: 65, unavailable: 69, config: 78 } as const;

export function address(value: string): string {
  if (!isAddress(value)) throw new InvalidArgumentError(`"${value}" is not a mail address`);
  return value;
}

/** A commander parser for a number of seconds (a positive number). */
export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a number of seconds`);
  return n;
}

/** Query parameters that carry a secret: libpq reads `password` and `sslpassword` from the URL too. */
const SECRET_PARAMS = new Set(['password', 'sslpassword']);

/** The URL with its password, in the user part or in the query, shown as `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // Rebuilt by hand: URLSearchParams would re-encode every other parameter too.
    if (u.search) {
      u.search = u.search
        .slice(1)
        .split('&')
        .map((pair) => {
          const name = pair.split('=')[0]!;
          let decoded = name;
          try {
            decoded = decodeURIComponent(name.replace(/\+/g, ' '));
          } catch {
            // a malformed escape: compared as written
          }
          return SECRET_PARAMS.has(decoded.trim().toLowerCase()) ? `${name}=***` : pair;
        })
        .join('&');
    }
    return u.toString();
  } catch {
    return '(not shown: not a URL)';
  }
}

/**
 * Opens the database for a command and applies pending migrations, or exits 69 naming PostgreSQL and
 * DATABASE_URL (pg's own "connect ECONNREFUSED 127.0.0.1:5432" names neither). Only the commands of
 * setting up (start, migrate, users add, train, eval, replay) create a missing database: a command
 * that reports on or manages an installation, given a mistyped DATABASE_URL, must not answer from a
 * new empty one (crgate-recipients.sh would write an empty map, and Postfix would refuse every user).
 */
export async function openCommandDatabase(config: Config, logger: Logger, options: { max: number; create?: boolean }): Promise<Db> {
  try {
    return await openDatabase(config.databaseUrl, logger, { max: options.max, create: options.create ?? false });
  } catch (err) {
    fail(`cannot use PostgreSQL at ${redactUrl(config.databaseUrl)} (DATABASE_URL): ${(err as Error).message}`, EXIT.unavailable);
  }
}

export async function withDb<T>(fn: (db: Db) => Promise<T>, options: { create?: boolean } = {}): Promise<T> {
  const config = configOrExit();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const db = await openCommandDatabase(config, logger, { max: 2, create: options.create });
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

/**
 * On a terminal, what starts a line of stderr: a return and an erase to the end of the line, so that
 * a message written while a progress line (`crgate train`, `import-sent`) is up starts at the left
 * margin on a clean line instead of being glued to the end of the bar. Nothing in a pipe.
 */
function freshLine(): string {
  return process.stderr.isTTY ? '\r\x1b[K' : '';
}

export function fail(message: string, code: number = EXIT.failure): never {
  process.stderr.write(`${freshLine()}crgate: ${message}\n`);
  process.exit(code);
}

/** Files in a mail folder that are not mail, named on stderr so that nothing is left out unseen. */
export const reportSkipped: SkipReporter = (file, why) => {
  process.stderr.write(`${freshLine()}crgate: skipped ${file}: ${why}\n`);
};
