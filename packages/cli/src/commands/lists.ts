/** `crgate lists`: a user's whitelist and blacklist — show, add, remove, import and export CSV. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { isAddress, normalizeAddress } from '@crgate/core';
import { addListEntry, findUserByAddress, listEntries, removeListEntry, type Db, type ListKind, type ListName, type User } from '@crgate/store';
import { address, EXIT, fail, withDb } from '../cli-helpers.js';

function listName(value: string): ListName {
  if (value !== 'white' && value !== 'black') fail(`list must be "white" or "black", not "${value}"`, EXIT.usage);
  return value;
}

/** An entry with an @ is an address; otherwise a domain (a leading @ is allowed: @example.org). */
export function entryKind(value: string): { kind: ListKind; value: string } {
  const v = value.trim();
  if (v.startsWith('@')) return { kind: 'domain', value: v.slice(1).toLowerCase() };
  if (v.includes('@')) {
    if (!isAddress(v)) throw new Error(`"${v}" is not a mail address`);
    return { kind: 'address', value: normalizeAddress(v) };
  }
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(v)) throw new Error(`"${v}" is neither an address nor a domain`);
  return { kind: 'domain', value: v.toLowerCase() };
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** A small RFC 4180 reader: quoted fields, doubled quotes, CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.some((f) => f.trim() !== '')) rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f.trim() !== '')) rows.push(row);
  return rows;
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
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        for (const e of await listEntries(db, user.id, opts.list ? listName(opts.list) : undefined)) {
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
      let parsed;
      try {
        parsed = entries.map(entryKind);
      } catch (err) {
        fail((err as Error).message, EXIT.usage);
      }
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        for (const e of parsed) await addListEntry(db, { userId: user.id, list: name, kind: e.kind, value: e.value, source: 'manual' });
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
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        let missing = 0;
        for (const raw of entries) {
          const e = entryKind(raw);
          if (!(await removeListEntry(db, { userId: user.id, list: name, ...e }))) {
            missing++;
            process.stderr.write(`crgate: ${e.value} is not on the ${name}list\n`);
          }
        }
        if (missing) process.exitCode = EXIT.failure;
      });
    });
  lists
    .command('import')
    .description('import entries from CSV: list,value per line, or any CSV with a header naming "list" and "value" (what export writes)')
    .requiredOption('--as <address>', 'the user', address)
    .argument('<file>', 'CSV file')
    .action(async (file: string, opts: { as: string }) => {
      let rows: string[][];
      try {
        rows = parseCsv(await readFile(file, 'utf8'));
      } catch (err) {
        fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.data);
      }
      let listCol = 0;
      let valueCol = 1;
      let first = 1;
      const header = rows[0]?.map((h) => h.trim().toLowerCase()) ?? [];
      if (header.includes('list') && header.includes('value')) {
        listCol = header.indexOf('list');
        valueCol = header.indexOf('value');
        rows = rows.slice(1);
        first = 2;
      }
      const entries: Array<{ list: ListName; kind: ListKind; value: string }> = [];
      for (const [i, row] of rows.entries()) {
        const list = row[listCol]?.trim().toLowerCase();
        if (list !== 'white' && list !== 'black') fail(`${file} line ${i + first}: list must be white or black`, EXIT.data);
        try {
          entries.push({ list, ...entryKind(row[valueCol] ?? '') });
        } catch (err) {
          fail(`${file} line ${i + first}: ${(err as Error).message}`, EXIT.data);
        }
      }
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        for (const e of entries) await addListEntry(db, { userId: user.id, ...e, source: 'import' });
        process.stdout.write(`imported ${entries.length} entries for ${user.address}\n`);
      });
    });
  lists
    .command('export')
    .description('write the entries as CSV (list,kind,value,source,added) to standard output')
    .requiredOption('--as <address>', 'the user', address)
    .option('--list <white|black>', 'only this list')
    .action(async (opts: { as: string; list?: string }) => {
      await withDb(async (db) => {
        const user = await userOrFail(db, opts.as);
        process.stdout.write('list,kind,value,source,added\r\n');
        for (const e of await listEntries(db, user.id, opts.list ? listName(opts.list) : undefined)) {
          process.stdout.write(`${[e.list, e.kind, e.value, e.source, e.createdAt.toISOString()].map(csvField).join(',')}\r\n`);
        }
      });
    });
}
