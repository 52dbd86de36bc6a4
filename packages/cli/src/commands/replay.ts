/** `crgate replay`: the dry run. */
import type { Command } from 'commander';
import { normalizeAddress } from '@crgate/core';
import { findUserByAddress } from '@crgate/store';
import { MailSourceError } from '@crgate/ingest';
import { configOrExit } from '../load-config.js';
import { createLogger } from '../logger.js';
import { replay } from '../replay.js';
import { address, fail, openCommandDatabase } from '../cli-helpers.js';

export function registerReplay(program: Command): void {
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
      // The dry run tried while setting up, before anything else: it creates the database.
      const db = await openCommandDatabase(config, logger, { max: 4, create: true });
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
}
