/**
 * `crgate senders`: the senders who pressed "never challenge me" on a challenge page. Their mail to any
 * user that would have been challenged is quarantined instead (SENDER_OPTED_OUT); the page offers no
 * way back, so a sender who pressed it by mistake asks the operator, who undoes it here.
 */
import type { Command } from 'commander';
import { normalizeAddress } from '@crgate/core';
import { isSenderOptedOut, optedOutSenders, setSenderOptOut } from '@crgate/store';
import { address, EXIT, withDb } from '../cli-helpers.js';

export function registerSenders(program: Command): void {
  const senders = program.command('senders').description('senders who asked never to be challenged');
  senders
    .command('opted-out')
    .description('list the senders who asked never to be challenged, with the date they asked')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }) => {
      await withDb(async (db) => {
        for (const s of await optedOutSenders(db)) {
          const row = { address: s.address, since: s.since.toISOString() };
          process.stdout.write(opts.json ? `${JSON.stringify(row)}\n` : `${row.address.padEnd(40)} ${row.since}\n`);
        }
      });
    });
  senders
    .command('allow-challenges')
    .description('undo a sender\'s "never challenge me": their mail may be challenged again')
    .argument('<address>', 'the sender', address)
    .action(async (sender: string) => {
      await withDb(async (db) => {
        if (!(await isSenderOptedOut(db, sender))) {
          process.stderr.write(`crgate: ${normalizeAddress(sender)} had not asked never to be challenged\n`);
          process.exitCode = EXIT.failure;
          return;
        }
        await setSenderOptOut(db, sender, false);
        process.stdout.write(`${normalizeAddress(sender)} may be challenged again\n`);
      });
    });
}
