/**
 * The site's list import: a CSV file of more entries than one import takes is refused whole and saying
 * so, as `crgate lists import` does (no file is cut short at the limit without a word); so is a file
 * that is not UTF-8; an upload cut off mid-body gets a 400, not a crash of the process; and the
 * site's own export imports back as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, setPassword } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { WebClient } from './helpers/browser.js';

describe('the site\'s list import', () => {
  let t: MailTestEnvironment;
  let engine: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    t = await createMailTestEnvironment();
    engine = await startInProcess(t.env, ['web']);
    await addUser(engine.db, 'alice@example.test');
    await setPassword(engine.db, 'alice@example.test', 'correct horse battery');
  });

  afterAll(async () => {
    await engine?.stop();
    await t?.cleanup();
  });

  async function signedIn(): Promise<WebClient> {
    const alice = new WebClient(t.publicUrl);
    const signIn = await alice.post('/signin/password', { _csrf: await alice.csrfOf('/signin'), address: 'alice@example.test', password: 'correct horse battery' });
    expect(signIn.status).toBe(303);
    return alice;
  }

  it('takes an imported entry off the other list, and says how many moved', async () => {
    const alice = await signedIn();
    const added = await alice.post('/lists/add', { _csrf: await alice.csrfOf('/lists'), list: 'black', value: 'turncoat@import.test' });
    expect(added.status).toBe(303);
    const form = new FormData();
    form.append('_csrf', await alice.csrfOf('/lists'));
    form.append('list', 'white');
    form.append('file', new Blob(['Turncoat@Import.test\nnewcomer@import.test\n'], { type: 'text/csv' }), 'friends.csv');
    const r = await alice.request('POST', '/lists/import', form);
    expect(r.status).toBe(303);
    const page = await alice.get(r.headers.get('location')!.replace(/^.*?\/lists/, '/lists'));
    expect(page.text).toContain('2 new entries imported (1 of them moved from your other list).');
    const { rows } = await t.db.query(`SELECT list, value FROM list_entries WHERE value LIKE '%@import.test' ORDER BY value`);
    expect(rows).toEqual([
      { list: 'white', value: 'newcomer@import.test' },
      { list: 'white', value: 'turncoat@import.test' },
    ]);
  });

  it('imports its own export back unchanged, an address starting with an apostrophe included', async () => {
    const alice = await signedIn();
    for (const value of ["'bob@roundtrip.test", '=cmd@roundtrip.test']) {
      expect((await alice.post('/lists/add', { _csrf: await alice.csrfOf('/lists'), list: 'black', value })).status).toBe(303);
    }
    const exported = await alice.get('/lists/export.csv');
    expect(exported.status).toBe(200);
    await t.db.query(`DELETE FROM list_entries WHERE value LIKE '%@roundtrip.test'`);
    const form = new FormData();
    form.append('_csrf', await alice.csrfOf('/lists'));
    form.append('file', new Blob([exported.text], { type: 'text/csv' }), 'crgate-lists.csv');
    expect((await alice.request('POST', '/lists/import', form)).status).toBe(303);
    const { rows } = await t.db.query(`SELECT list, value FROM list_entries WHERE value LIKE '%roundtrip.test' ORDER BY value COLLATE "C"`);
    expect(rows).toEqual([
      { list: 'black', value: "'bob@roundtrip.test" },
      { list: 'black', value: '=cmd@roundtrip.test' },
    ]);
  });

  it('imports nothing from a file of more than 10,000 entries, and names the limit', async () => {
    const alice = await signedIn();
    const form = new FormData();
    form.append('_csrf', await alice.csrfOf('/lists'));
    form.append('list', 'white');
    form.append('file', new Blob([Array.from({ length: 10_001 }, (_, i) => `u${i}@bulk.test\n`).join('')], { type: 'text/csv' }), 'big.csv');
    const r = await alice.request('POST', '/lists/import', form);
    expect(r.status).toBe(400);
    expect(r.text).toContain('Nothing was imported: the file has more than 10,000 entries, the most one import takes.');
    expect((await t.db.query(`SELECT count(*)::int AS n FROM list_entries WHERE value LIKE '%@bulk.test'`)).rows).toEqual([{ n: 0 }]);
  });

  it('answers 400 to an upload that ends before its closing boundary, and keeps serving', async () => {
    const alice = await signedIn();
    const csrf = await alice.csrfOf('/lists');
    const body = `--xx\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n--xx\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nbob@example.org`;
    const r = await alice.request('POST', '/lists/import', body, { 'content-type': 'multipart/form-data; boundary=xx' });
    expect(r.status).toBe(400);
    expect((await alice.get('/lists')).status).toBe(200);
  });

  it('imports nothing from a file that is not UTF-8, and says so', async () => {
    const alice = await signedIn();
    const form = new FormData();
    form.append('_csrf', await alice.csrfOf('/lists'));
    form.append('list', 'white');
    form.append('file', new Blob([Buffer.from('m\xfcller@latin.test\nzoe@latin.test\n', 'latin1')], { type: 'text/csv' }), 'latin1.csv');
    const r = await alice.request('POST', '/lists/import', form);
    expect(r.status).toBe(400);
    expect(r.text).toContain('UTF-8');
    expect((await t.db.query(`SELECT count(*)::int AS n FROM list_entries WHERE value LIKE '%latin.test'`)).rows).toEqual([{ n: 0 }]);
  });
});
