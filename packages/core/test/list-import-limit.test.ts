/** The most rows one list import takes: a file past it is refused whole, never cut short. */
import { describe, expect, it } from 'vitest';
import { importRows, MAX_IMPORT_ROWS } from '../src/list-entries.js';

const rows = (n: number) => Array.from({ length: n }, (_, i) => `white,u${i}@x.example\n`).join('');

describe('list import limit', () => {
  it('takes a file of exactly the limit, with or without a header', () => {
    expect(importRows(rows(MAX_IMPORT_ROWS)).entries).toHaveLength(MAX_IMPORT_ROWS);
    expect(importRows(`list,value\n${rows(MAX_IMPORT_ROWS)}`)).toMatchObject({ tooMany: false, bad: [] });
    expect(importRows(`list,value\n${rows(MAX_IMPORT_ROWS)}`).entries).toHaveLength(MAX_IMPORT_ROWS);
  });

  it('reports a file of one row more as too many, with no entries to import', () => {
    expect(importRows(rows(MAX_IMPORT_ROWS + 1))).toEqual({ entries: [], bad: [], tooMany: true });
    expect(importRows(`list,value\n${rows(MAX_IMPORT_ROWS + 1)}`)).toEqual({ entries: [], bad: [], tooMany: true });
  });

  it('counts entries, not blank lines', () => {
    expect(importRows(`${rows(MAX_IMPORT_ROWS)}\n\n\n`).tooMany).toBe(false);
  });
});
