/** `crgate train` and `crgate eval`: the content classifier. */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { normalizeAddress } from '@crgate/core';
import { findUserByAddress, PgTokenStore } from '@crgate/store';
import { MailSourceError } from '@crgate/ingest';
import { configOrExit } from '../load-config.js';
import { createLogger } from '../logger.js';
import { progressBar, trainFolders } from '../train.js';
import { evaluate, formatEvaluation } from '../evaluate.js';
import { address, fail, openCommandDatabase, withDb } from '../cli-helpers.js';

export function registerClassifier(program: Command): void {
  program
    .command('train')
    .description('train the classifier from mail folders: the global model, or one user\'s with --as')
    .option('--ham <path...>', 'folders or files of ham (Maildir, mbox, .eml)', [])
    .option('--spam <path...>', 'folders or files of spam', [])
    .option('--as <address>', "train this user's own model instead of the global one", address)
    .action(async (opts: { ham: string[]; spam: string[]; as?: string }) => {
      if (opts.ham.length === 0 && opts.spam.length === 0) fail('give --ham and/or --spam folders', 64);
      await withDb(async (db) => {
        let scope = 0;
        if (opts.as) {
          const user = await findUserByAddress(db, opts.as);
          if (!user) fail(`no user ${normalizeAddress(opts.as)}`);
          scope = user.id;
        }
        const tty = Boolean(process.stderr.isTTY);
        try {
          const trained = await trainFolders(
            new PgTokenStore(db),
            scope,
            [
              { label: 'ham', paths: opts.ham },
              { label: 'spam', paths: opts.spam },
            ],
            tty ? (p) => process.stderr.write(progressBar(p)) : undefined,
          );
          if (tty) process.stderr.write('\n');
          const unchanged = trained.unchanged ? ` (${trained.unchanged} of them already trained with that label: unchanged)` : '';
          process.stdout.write(`trained ${trained.ham} ham and ${trained.spam} spam into the ${opts.as ? `model of ${normalizeAddress(opts.as)}` : 'global model'}${unchanged}\n`);
        } catch (err) {
          if (err instanceof MailSourceError) fail(err.message);
          throw err;
        }
        // Bootstrapping a new installation's model comes before anything else: it creates the database.
      }, { create: true });
    });

  program
    .command('eval')
    .description('train an in-memory model on part of the mail, decide the rest as the ingest would, print decision × truth')
    .requiredOption('--ham <path...>', 'ham folders or files')
    .requiredOption('--spam <path...>', 'spam folders or files')
    .option('--train-ham <path...>', 'train on these ham instead of a split')
    .option('--train-spam <path...>', 'train on these spam instead of a split')
    .option('--train-fraction <n>', 'share of each set used for training when splitting', (v: string) => {
      const n = Number(v);
      if (!(n > 0 && n < 1)) throw new InvalidArgumentError('a number between 0 and 1');
      return n;
    }, 0.5)
    .option('--dns', 'run the DNS-based checks too (slow without a local resolver); off by default')
    .option('--json', 'one JSON line per tested message instead of the tables')
    .action(async (opts: { ham: string[]; spam: string[]; trainHam?: string[]; trainSpam?: string[]; trainFraction: number; dns?: boolean; json?: boolean }) => {
      const config = configOrExit();
      const logger = createLogger('error');
      // Tried before anything is set up, as the first look at the filter: it creates the database.
      const db = await openCommandDatabase(config, logger, { max: 4, create: true });
      try {
        const rows = await evaluate(config, db, { ham: opts.ham, spam: opts.spam, trainHam: opts.trainHam, trainSpam: opts.trainSpam, trainFraction: opts.trainFraction, offline: !opts.dns }, logger);
        if (opts.json) for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
        else process.stdout.write(formatEvaluation(rows, config));
      } catch (err) {
        if (err instanceof MailSourceError) fail(err.message);
        throw err;
      } finally {
        await db.end();
      }
    });
}
