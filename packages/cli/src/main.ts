/**
 * The `crgate` command. Every subcommand validates the configuration first and exits non-zero with
 * the offending key when it is wrong. Each command group lives in commands/.
 */
import { Command } from 'commander';
import { registerStart } from './commands/start.js';
import { registerUsers } from './commands/users.js';
import { registerReplay } from './commands/replay.js';
import { registerImportSent } from './commands/import-sent.js';
import { registerClassifier } from './commands/classifier.js';
import { registerConfig } from './commands/config.js';
import { registerLists } from './commands/lists.js';
import { registerSenders } from './commands/senders.js';
import { registerOperations } from './commands/operations.js';
import { fail } from './cli-helpers.js';

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

registerStart(program);
registerUsers(program);
registerReplay(program);
registerImportSent(program);
registerClassifier(program);
registerLists(program);
registerSenders(program);
registerOperations(program);
registerConfig(program);

program.parseAsync().catch((err: unknown) => {
  fail((err as Error).message ?? String(err));
});
