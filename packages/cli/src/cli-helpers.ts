/**
 * What every command shares: argument parsers, opening the database with the process's configuration,
 * and failing with a message and an exit code.
 */
import { InvalidArgumentError } from 'commander';
import { isAddress } from '@crgate/core';
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

export async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const config = configOrExit();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const db = await openDatabase(config.databaseUrl, logger, { max: 2 });
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

export function fail(message: string, code: number = EXIT.failure): never {
  process.stderr.write(`crgate: ${message}\n`);
  process.exit(code);
}

/** Files in a mail folder that are not mail, named on stderr so that nothing is left out unseen. */
export const reportSkipped: SkipReporter = (file, why) => {
  process.stderr.write(`crgate: skipped ${file}: ${why}\n`);
};
