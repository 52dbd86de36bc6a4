/** `crgate users`: protected users and their aliases. */
import type { Command } from 'commander';
import { normalizeAddress } from '@crgate/core';
import { addAlias, addUser, findUserByAddress, listUsers, removeUser, setAdmin, setPassword, UserError } from '@crgate/store';
import { readPassword } from '../read-password.js';
import { address, EXIT, fail, withDb } from '../cli-helpers.js';

export function registerUsers(program: Command): void {
  const users = program.command('users').description('manage protected users and their aliases');
  users
    .command('add')
    .description('add one or more users')
    .argument('<address...>', 'mail addresses', (v: string, prev: string[] = []) => [...prev, address(v)])
    .option('--admin', 'the new users may see the operator overview on the site (/admin)')
    .action(async (addresses: string[], opts: { admin?: boolean }) => {
      // The first command of a new installation: it creates the database.
      await withDb(
        async (db) => {
          for (const a of addresses) {
            const addr = normalizeAddress(a);
            if (await addUser(db, a, { admin: opts.admin })) {
              process.stdout.write(`added ${addr}\n`);
              continue;
            }
            // Taken as another user's alias, "already exists" would pass for this user being there: an
            // operator would then give "them" a mailbox and a password (setting the owner's) while their
            // mail is the owner's.
            const owner = await findUserByAddress(db, a);
            if (owner && owner.address !== addr) {
              process.stderr.write(`crgate: ${addr} is an alias of ${owner.address}, not added\n`);
              process.exitCode = EXIT.failure;
            } else process.stdout.write(`${addr} already exists\n`);
          }
        },
        { create: true },
      );
    });
  users
    .command('list')
    .description('list users and their aliases')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }) => {
      await withDb(async (db) => {
        for (const u of await listUsers(db)) {
          // The text form stays "address  (aliases: ...)", without the admin flag:
          // deploy/postfix/crgate-recipients.sh parses it.
          if (opts.json) {
            const row = { address: u.address, aliases: u.aliases, challenges: u.challengesEnabled, language: u.language, admin: u.isAdmin, created: u.createdAt.toISOString() };
            process.stdout.write(`${JSON.stringify(row)}\n`);
          } else process.stdout.write(`${u.address}${u.aliases.length ? `  (aliases: ${u.aliases.join(', ')})` : ''}\n`);
        }
      });
    });
  users
    .command('remove')
    .description('remove a user, with their aliases, lists, held mail and classifier model')
    .argument('<address>', 'the user', address)
    .action(async (a: string) => {
      await withDb(async (db) => {
        if (!(await removeUser(db, a))) {
          // Only a primary address names a user to remove; an alias leads to its user, who is left alone.
          const owner = await findUserByAddress(db, a);
          if (owner) {
            fail(
              `${normalizeAddress(a)} is an alias of ${owner.address}, not a user. \`crgate users remove ${owner.address}\` removes that user with all their aliases; no command removes an alias alone`,
            );
          }
          fail(`no user ${normalizeAddress(a)}`);
        }
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
        // A +tag or other letter case makes no new address: mail to it already reaches the user.
        if (normalizeAddress(alias) === normalizeAddress(a)) {
          process.stdout.write(`${alias} is ${normalizeAddress(a)} itself (crgate ignores letter case and +tags): no alias added\n`);
        } else process.stdout.write(`${normalizeAddress(alias)} is an alias of ${normalizeAddress(a)}\n`);
      });
    });
  users
    .command('admin')
    .description('let a user see the operator overview on the site (/admin), or with --off no longer')
    .argument('<address>', 'the user (primary address or alias)', address)
    .option('--off', 'revoke: the user sees only their own mail again')
    .action(async (a: string, opts: { off?: boolean }) => {
      await withDb(async (db) => {
        try {
          await setAdmin(db, a, !opts.off);
        } catch (err) {
          if (err instanceof UserError) fail(err.message);
          throw err;
        }
        process.stdout.write(opts.off ? `${normalizeAddress(a)} is no longer an admin\n` : `${normalizeAddress(a)} is an admin\n`);
      });
    });
  users
    .command('passwd')
    .description('set (or with --remove, remove) the password a user may sign in to the site with; read from the terminal or standard input')
    .argument('<address>', 'the user', address)
    .option('--remove', 'remove the password: the user signs in with a mailed link only')
    .action(async (a: string, opts: { remove?: boolean }) => {
      const password = opts.remove ? null : await readPassword(`New password for ${normalizeAddress(a)}: `);
      await withDb(async (db) => {
        try {
          await setPassword(db, a, password);
        } catch (err) {
          if (err instanceof UserError) fail(err.message);
          throw err;
        }
        process.stdout.write(password === null ? `removed the password of ${normalizeAddress(a)}\n` : `password set for ${normalizeAddress(a)}\n`);
      });
    });
}
