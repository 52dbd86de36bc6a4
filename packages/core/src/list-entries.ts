/**
 * What a person writes as a list entry, and the CSV the lists are imported from and exported to: one
 * reading for the site and for `crgate lists`. Pure: the store keeps the entries.
 */
import { isAddress, normalizeDomain } from './address.js';

export type ListName = 'white' | 'black';
export type ListKind = 'address' | 'domain';

/** `white`/`whitelist` or `black`/`blacklist`, in any case; undefined for anything else. */
export function listName(value: string | undefined): ListName | undefined {
  const v = value?.trim().toLowerCase();
  if (v === 'white' || v === 'whitelist') return 'white';
  if (v === 'black' || v === 'blacklist') return 'black';
  return undefined;
}

/** A domain as a list entry takes it: letters, digits, hyphens and dots, at least two labels. */
export function isListDomain(value: string): boolean {
  return value.length <= 253 && /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/i.test(value);
}

/** Reads what a person typed as a list entry: an address, or a domain (`example.org`, `@example.org`, `bücher.example`). */
export function parseListValue(input: string): { kind: ListKind; value: string } | undefined {
  const v = input.trim();
  if (v.includes('@') && !v.startsWith('@')) return isAddress(v) ? { kind: 'address', value: v } : undefined;
  // An internationalised domain is kept as its A-labels, the form mail carries (normalizeDomain).
  const domain = normalizeDomain(v.replace(/^@/, ''));
  return isListDomain(domain) ? { kind: 'domain', value: domain } : undefined;
}

/** One CSV row and the line of the file it starts on (blank lines are skipped, not renumbered). */
export interface CsvRow {
  line: number;
  cells: string[];
}

/** CSV (RFC 4180): quoted cells, doubled quotes, `,` or `;`, CRLF or LF, a byte-order mark. */
export function parseCsv(text: string, maxRows = 10_000): CsvRow[] {
  const rows: CsvRow[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  const src = text.replace(/^\uFEFF/, '');
  const finish = () => {
    cells.push(cell);
    if (cells.some((c) => c.trim() !== '')) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
  };
  for (let i = 0; i < src.length && rows.length < maxRows; i++) {
    const c = src[i]!;
    if (c === '\n') line++;
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',' || c === ';') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') {
        i++;
        line++;
      } else if (c === '\r') line++;
      finish();
      rowLine = line;
    } else cell += c;
  }
  if (rows.length < maxRows && (cell !== '' || cells.length)) finish();
  return rows;
}

/**
 * One CSV cell. A cell a spreadsheet would read as a formula (starting with = + - @ or a control
 * character) gets a leading apostrophe, which the import strips again. So does a cell that starts
 * with an apostrophe itself (`'bob@example.org` is a valid address): the import strips one, and
 * written bare it would come back as another address (`bob@example.org`).
 */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r']/.test(value) ? `'${value}` : value;
  return /[",;\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvLine(cells: string[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export interface ImportedEntry {
  list: ListName;
  kind: ListKind;
  value: string;
}

/** The most entries one list import takes (the site's and `crgate lists import`'s limit). */
export const MAX_IMPORT_ROWS = 10_000;

/**
 * An import file's text, or undefined when it is not UTF-8: read leniently, a Latin-1 `müller@…`
 * would be imported as `m\uFFFDller@…`, an entry matching nobody. A byte-order mark is dropped.
 */
export function importFileText(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Import rows: a header naming `list` and `value` columns (what the export writes), or rows of
 * `list,value`, or bare values that go to `defaultList`. `bad` holds the file's line numbers of rows
 * that are no entry (or name no list when there is no default). A file of more than `maxRows` entries
 * (blank lines and the header not counted) is `tooMany`, with no entries: it is refused whole, never
 * cut short at the limit.
 */
export function importRows(
  text: string,
  defaultList?: ListName,
  maxRows = MAX_IMPORT_ROWS,
): { entries: ImportedEntry[]; bad: number[]; tooMany: boolean } {
  // The header, the limit, and one row more: enough to tell a file past the limit.
  const rows = parseCsv(text, maxRows + 2);
  const entries: ImportedEntry[] = [];
  const bad: number[] = [];
  let listCol = -1;
  let valueCol = -1;
  const header = rows[0]?.cells.map((c) => c.trim().toLowerCase());
  const start = header?.includes('value') ? 1 : 0;
  if (start) {
    listCol = header!.indexOf('list');
    valueCol = header!.indexOf('value');
  }
  if (rows.length - start > maxRows) return { entries: [], bad: [], tooMany: true };
  for (const { line, cells } of rows.slice(start)) {
    const [listCell, valueCell] =
      valueCol >= 0 ? [listCol >= 0 ? cells[listCol] : undefined, cells[valueCol]] : cells.length >= 2 ? [cells[0], cells[1]] : [undefined, cells[0]];
    const list = listCell === undefined || listCell.trim() === '' ? defaultList : listName(listCell);
    const parsed = parseListValue((valueCell ?? '').trim().replace(/^'/, ''));
    if (!list || !parsed) bad.push(line);
    else entries.push({ list, ...parsed });
  }
  return { entries, bad, tooMany: false };
}
