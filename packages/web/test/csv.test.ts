/** CSV of the list import and export, and how import rows are read. */
import { describe, expect, it } from 'vitest';
import { csvLine, parseCsv } from '../src/csv.js';
import { importRows } from '../src/lists-routes.js';

describe('list CSV', () => {
  it('parses quoted cells, doubled quotes, CRLF, LF and a BOM', () => {
    expect(parseCsv('\uFEFFa,"b,c","d ""e"""\r\nf,g\n\n')).toEqual([['a', 'b,c', 'd "e"'], ['f', 'g']]);
  });

  it('defuses cells a spreadsheet would run as formulas, and the import reads them back', () => {
    expect(csvLine(['=cmd@x.example', '+1', '-2', '@x', 'plain'])).toBe("'=cmd@x.example,'+1,'-2,'@x,plain\r\n");
    expect(importRows("list,value\nblack,'=cmd@x.example\n", 'white').entries).toEqual([{ list: 'black', kind: 'address', value: '=cmd@x.example' }]);
  });

  it('reads exports, list,value rows and bare values; reports bad lines', () => {
    expect(importRows('list,kind,value,source,created_at\nwhite,domain,example.org,manual,2026-01-01\n', 'black').entries).toEqual([
      { list: 'white', kind: 'domain', value: 'example.org' },
    ]);
    expect(importRows('blacklist,spam@x.example\n@y.example\n', 'white').entries).toEqual([
      { list: 'black', kind: 'address', value: 'spam@x.example' },
      { list: 'white', kind: 'domain', value: 'y.example' },
    ]);
    expect(importRows('white,ok@x.example\ngrey,a@x.example\nwhite,no spaces allowed\n', 'white').bad).toEqual([2, 3]);
  });
});
