/**
 * The `crgate` command. Every subcommand validates the configuration first and exits non-zero with
 * the offending key when it is wrong.
 */
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, isAddress, normalizeAddress, ENV_VARS } from '@crgate/core';
import { addAlias, addUser, findUserByAddress, listUsers, openDatabase, PgTokenStore, removeUser, UserError, type Db } from '@crgate/store';
import { MailSourceError } from '@crgate/ingest';
import { replay } from './replay.js';
import { importSent } from './import-sent.js';
import { progressBar, trainFolders } from './train.js';
import { evaluate, formatEvaluation } from './evaluate.js';
import { configOrExit, EXIT_CONFIG } from './load-config.js';
import { createLogger } from './logger.js';
import { parseRoles, startEngine } from './engine.js';

function address(value: string): string {
  if (!isAddress(value)) throw new InvalidArgumentError(`"${value}" is not a mail address`);
  return value;
}

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const config = configOrExit();
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const db = await openDatabase(config.databaseUrl, logger, { max: 2 });
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

function fail(message: string, code = 1): never {
  process.stderr.write(`crgate: ${message}\n`);
  process.exit(code);
}

// `crgate users list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command();
program
  .name('crgate')
  .description('Challenge/response anti-spam engine behind your MTA (LMTP in, LMTP/SMTP/Maildir out)')
  .showHelpAfterError();

program
  .command('start')
  .description('run the engine: LMTP ingest, worker and web site (all by default)')
  .option('-r, --role <roles>', 'ingest, worker, web or all; several separated by commas', 'all')
  .action(async (opts: { role: string }) => {
    const config = configOrExit();
    let roles;
    try {
      roles = parseRoles(opts.role);
    } catch (err) {
      fail((err as Error).message, 64);
    }
    const logger = createLogger(config.logLevel);
    let engine;
    try {
      engine = await startEngine(config, roles, logger);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message, EXIT_CONFIG);
      logger.error({ event: 'engine.start_failed', err }, `cannot start: ${(err as Error).message}`);
      process.exit(1);
    }
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: 'engine.stopping', signal }, `${signal}: finishing in-flight work`);
      engine.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ event: 'engine.stop_failed', err }, 'unclean stop');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });

program
  .command('migrate')
  .description('create the database if missing and apply pending migrations')
  .action(async () => {
    const config = configOrExit();
    const logger = createLogger(config.logLevel);
    const db = await openDatabase(config.databaseUrl, logger, { max: 1 });
    await db.end();
  });

const users = program.command('users').description('manage protected users and their aliases');
users
  .command('add')
  .description('add one or more users')
  .argument('<address...>', 'mail addresses', (v: string, prev: string[] = []) => [...prev, address(v)])
  .action(async (addresses: string[]) => {
    await withDb(async (db) => {
      for (const a of addresses) {
        const added = await addUser(db, a);
        process.stdout.write(added ? `added ${normalizeAddress(a)}\n` : `${normalizeAddress(a)} already exists\n`);
      }
    });
  });
users
  .command('list')
  .description('list users and their aliases')
  .action(async () => {
    await withDb(async (db) => {
      for (const u of await listUsers(db)) {
        process.stdout.write(`${u.address}${u.aliases.length ? `  (aliases: ${u.aliases.join(', ')})` : ''}\n`);
      }
    });
  });
users
  .command('remove')
  .description('remove a user, with their aliases, lists and held mail')
  .argument('<address>', 'the user', address)
  .action(async (a: string) => {
    await withDb(async (db) => {
      if (!(await removeUser(db, a))) fail(`no user ${normalizeAddress(a)}`);
      process.stdout.write(`removed ${normalizeAddress(a)}\n`);
    });
  });
users
  .command('alias')
  .description('add an alias address to a user')
  .argument('<address>', 'the user', address)
  .argument('<alias>', 'the alias', address)
  .action(async (a: string, alias: string) => {
    await withDb(async (db) => {
      try {
        await addAlias(db, a, alias);
      } catch (err) {
        if (err instanceof UserError) fail(err.message);
        throw err;
      }
      process.stdout.write(`${normalizeAddress(alias)} is an alias of ${normalizeAddress(a)}\n`);
    });
  });

program
  .command('replay')
  .description('dry run: decide for each message as the ingest would, with no side effects')
  .requiredOption('--as <address>', 'the recipient to decide for', address)
  .option('--json', 'one JSON object per line')
  .option('--offline', 'skip DNS-based checks (authentication, sender domain): their facts stay unknown')
  .argument('<path...>', 'message files, folders of .eml files, Maildirs or mbox files')
  .action(async (paths: string[], opts: { as: string; json?: boolean; offline?: boolean }) => {
    const config = configOrExit();
    const logger = createLogger('error');
    const db = await openDatabase(config.databaseUrl, logger, { max: 4 });
    const counts = new Map<string, number>();
    try {
      if (!(await findUserByAddress(db, opts.as))) process.stderr.write(`crgate: ${normalizeAddress(opts.as)} is not a user; replaying with no lists\n`);
      for await (const line of replay(config, db, paths, { as: opts.as, offline: Boolean(opts.offline) }, logger)) {
        counts.set(line.decision, (counts.get(line.decision) ?? 0) + 1);
        if (opts.json) process.stdout.write(`${JSON.stringify(line)}\n`);
        else process.stdout.write(`${line.decision.padEnd(10)} ${line.score.toFixed(2)}  ${line.file}  ${line.reasons.join(',')}\n`);
      }
    } catch (err) {
      if (err instanceof MailSourceError) fail(err.message);
      throw err;
    } finally {
      await db.end();
    }
    if (!opts.json) {
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(`\n${total} messages: ${['deliver', 'challenge', 'quarantine', 'discard'].map((d) => `${d} ${counts.get(d) ?? 0}`).join(', ')}\n`);
    }
  });

program
  .command('import-sent')
  .description("record a user's sent mail (Maildir, mbox or .eml files): whitelists its recipients and logs its Message-IDs")
  .requiredOption('--as <address>', 'the user who sent the mail', address)
  .argument('<path...>', 'Sent folder(s)')
  .action(async (paths: string[], opts: { as: string }) => {
    await withDb(async (db) => {
      const user = await findUserByAddress(db, opts.as);
      if (!user) fail(`no user ${normalizeAddress(opts.as)}`);
      const tty = process.stderr.isTTY;
      try {
        const r = await importSent(db, user, paths, (p) => {
          if (tty && p.messages % 50 === 0) process.stderr.write(`\r${p.messages} messages…`);
        });
        if (tty) process.stderr.write('\r');
        process.stdout.write(`imported ${r.messages} sent messages for ${user.address}; ${r.whitelisted} new whitelist entries; ${r.skipped} without Message-ID skipped\n`);
      } catch (err) {
        if (err instanceof MailSourceError) fail(err.message);
        throw err;
      }
    });
  });

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
        process.stdout.write(`trained ${trained.ham} ham and ${trained.spam} spam into the ${opts.as ? `model of ${normalizeAddress(opts.as)}` : 'global model'}\n`);
      } catch (err) {
        if (err instanceof MailSourceError) fail(err.message);
        throw err;
      }
    });
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
    const db = await openDatabase(config.databaseUrl, logger, { max: 4 });
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

program
  .command('config')
  .description('validate the configuration and print it (the secret hidden)')
  .action(() => {
    const config = configOrExit();
    process.stdout.write(`${JSON.stringify({ ...config, secret: config.secret ? '(set)' : '(stored in database)' }, null, 2)}\n`);
    process.stdout.write(`\nEnvironment variables: ${ENV_VARS.map((v) => v.name).join(', ')}\n`);
  });

program.parseAsync().catch((err: unknown) => {
  fail((err as Error).message ?? String(err));
});
