/** `crgate lists`: a user's whitelist and blacklist — show, add, remove, import and export CSV. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { csvLine, importFileText, importRows, MAX_IMPORT_ROWS, normalizeAddress, parseListValue, type ListKind, type ListName } from '@crgate/core';
import { addUserListEntry, findUserByAddress, importListEntries, listEntries, removeListEntry, type Db, type User } from '@crgate/store';
import { address, EXIT, fail, withDb } from '../cli-helpers.js';

function listName(value: string): ListName {
  if (value !== 'white' && value !== 'black') fail(`list must be "white" or "black", not "${value}"`, EXIT.usage);
  return value;
}

/** An address, or a domain (example.org or @example.org), as the site reads it; exits on anything else. */
function entryOrFail(value: string): { kind: ListKind; value: string } {
  const parsed = parseListValue(value);
  if (!parsed) fail(`"${value.trim()}" is neither an address nor a domain`, EXIT.usage);
  return parsed;
}

async function userOrFail(db: Db, as: string): Promise<User> {
  const user = await findUserByAddress(db, as);
  if (!user) fail(`no user ${normalizeAddress(as)}`);
  return user;
}

export function registerLists(program: Command): void {
  const lists = program.command('lists').description("manage a user's whitelist and blacklist");
  lists
    .command('show')
    .description('show the entries, with their source and date')
    .requiredOption('--as <address>', 'the user', address)
    .option('--list <white|black>', 'only this list')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { as: string; list?: string; json?: boolean }) => {
      const name = opts.list ? listName(opts.list) : undefined;
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        for (const e of await listEntries(db, user.id, name)) {
          const row = { list: e.list, kind: e.kind, value: e.value, source: e.source, added: e.createdAt.toISOString() };
          process.stdout.write(opts.json ? `${JSON.stringify(row)}\n` : `${e.list.padEnd(6)} ${e.kind.padEnd(8)} ${e.value.padEnd(40)} ${e.source.padEnd(10)} ${row.added}\n`);
        }
      });
    });
  lists
    .command('add')
    .description('add addresses or domains (@example.org or example.org) to a list')
    .requiredOption('--as <address>', 'the user', address)
    .argument('<list>', 'white or black')
    .argument('<entry...>', 'addresses or domains')
    .action(async (list: string, entries: string[], opts: { as: string }) => {
      const name = listName(list);
      const parsed = entries.map(entryOrFail);
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        const other = name === 'white' ? 'black' : 'white';
        for (const e of parsed) {
          // As on the site: the entry leaves the other list, so the latest word wins.
          const { moved } = await addUserListEntry(db, user.id, { list: name, kind: e.kind, value: e.value, source: 'manual' });
          if (moved) process.stdout.write(`${e.kind === 'address' ? normalizeAddress(e.value) : e.value} moved from the ${other}list\n`);
        }
        process.stdout.write(`${parsed.length} entr${parsed.length === 1 ? 'y' : 'ies'} on the ${name}list of ${user.address}\n`);
      });
    });
  lists
    .command('remove')
    .description('remove addresses or domains from a list')
    .requiredOption('--as <address>', 'the user', address)
    .argument('<list>', 'white or black')
    .argument('<entry...>', 'addresses or domains')
    .action(async (list: string, entries: string[], opts: { as: string }) => {
      const name = listName(list);
      // Every entry read before any is removed: a bad one further on leaves the list as it was.
      const parsed = entries.map(entryOrFail);
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        let missing = 0;
        for (const e of parsed) {
          if (!(await removeListEntry(db, { userId: user.id, list: name, ...e }))) {
            missing++;
            process.stderr.write(`crgate: ${e.value} is not on the ${name}list\n`);
          }
        }
        const removed = parsed.length - missing;
        process.stdout.write(`removed ${removed} entr${removed === 1 ? 'y' : 'ies'} from the ${name}list of ${user.address}\n`);
        if (missing) process.exitCode = EXIT.failure;
      });
    });
  lists
    .command('import')
    .description(`import entries from CSV: list,value per line, or any CSV with a header naming "list" and "value" (what export writes); at most ${MAX_IMPORT_ROWS.toLocaleString('en')} entries`)
    .requiredOption('--as <address>', 'the user', address)
    .argument('<file>', 'CSV file')
    .action(async (file: string, opts: { as: string }) => {
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.data);
      }
      const text = importFileText(bytes);
      if (text === undefined) fail(`${file} is not UTF-8 text; nothing imported (save it as CSV in UTF-8)`, EXIT.data);
      const { entries, bad, tooMany } = importRows(text);
      if (tooMany) {
        fail(`${file} has more than ${MAX_IMPORT_ROWS.toLocaleString('en')} entries, the most one import takes; nothing imported (split the file)`, EXIT.data);
      }
      if (bad.length) {
        fail(`${file} line ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}: no list (white or black) or no address or domain; nothing imported`, EXIT.data);
      }
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        const { added, moved } = await importListEntries(db, user.id, entries);
        process.stdout.write(
          `imported ${entries.length} entries for ${user.address}: ${added} new${moved ? `, ${moved} of them moved from the other list` : ''}\n`,
        );
      });
    });
  lists
    .command('export')
    .description('write the entries as CSV (list,kind,value,source,created_at) to standard output')
    .requiredOption('--as <address>', 'the user', address)
    .option('--list <white|black>', 'only this list')
    .action(async (opts: { as: string; list?: string }) => {
      // Checked before anything is written: a refused command leaves standard output empty.
      const name = opts.list ? listName(opts.list) : undefined;
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        process.stdout.write(csvLine(['list', 'kind', 'value', 'source', 'created_at']));
        for (const e of await listEntries(db, user.id, name)) {
          process.stdout.write(csvLine([e.list, e.kind, e.value, e.source, e.createdAt.toISOString()]));
        }
      });
    });
}
