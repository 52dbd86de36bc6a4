/** CSV of the list import and export, and how import rows are read. */
import { describe, expect, it } from 'vitest';
import { csvLine, importRows, parseCsv } from '../src/list-entries.js';

describe('list CSV', () => {
  it('parses quoted cells, doubled quotes, CRLF, LF and a BOM', () => {
    expect(parseCsv('\uFEFFa,"b,c","d ""e"""\r\nf,g\n\n')).toEqual([
      { line: 1, cells: ['a', 'b,c', 'd "e"'] },
      { line: 2, cells: ['f', 'g'] },
    ]);
  });

  it('defuses cells a spreadsheet would run as formulas, and the import reads them back', () => {
    expect(csvLine(['=cmd@x.example', '+1', '-2', '@x', 'plain'])).toBe("'=cmd@x.example,'+1,'-2,'@x,plain\r\n");
    expect(importRows("list,value\nblack,'=cmd@x.example\n", 'white').entries).toEqual([{ list: 'black', kind: 'address', value: '=cmd@x.example' }]);
  });

  it('reads back an exported value that starts with an apostrophe as it was', () => {
    const exported = csvLine(['list', 'kind', 'value']) + csvLine(['black', 'address', "'bob@x.example"]);
    expect(importRows(exported, 'white').entries).toEqual([{ list: 'black', kind: 'address', value: "'bob@x.example" }]);
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

  it('reports the line of the file, blank lines and quoted line breaks counted', () => {
    expect(importRows('list,value\r\n\r\nwhite,ok@x.example\r\n\r\nwhite,"two\r\nlines"\r\nblack,bad value\r\n', 'white').bad).toEqual([5, 7]);
  });

  it('takes no bare value when there is no default list', () => {
    expect(importRows('white,a@x.example\nb@x.example\n').bad).toEqual([2]);
  });
});
