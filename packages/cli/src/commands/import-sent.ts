/** `crgate import-sent`: a Sent folder into the sent-mail log and whitelist. */
import type { Command } from 'commander';
import { normalizeAddress } from '@crgate/core';
import { findUserByAddress } from '@crgate/store';
import { MailSourceError } from '@crgate/ingest';
import { importSent } from '../import-sent.js';
import { address, fail, withDb } from '../cli-helpers.js';

export function registerImportSent(program: Command): void {
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
          process.stdout.write(`imported ${r.messages} sent messages for ${user.address}; ${r.whitelisted} new whitelist entries; ${r.skipped} without Message-ID skipped; ${r.notFromUser} not from ${user.address} skipped\n`);
        } catch (err) {
          if (err instanceof MailSourceError) fail(err.message);
          throw err;
        }
      });
    });
}
