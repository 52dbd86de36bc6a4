/**
 * The site's list import refuses a CSV file of more entries than one import takes, whole and saying
 * so, as `crgate lists import` does: no file is cut short at the limit without a word.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, setPassword } from '@crgate/store';
import { createMailTestEnvironment, type MailTestEnvironment } from './helpers/environment.js';
import { startInProcess } from './helpers/in-process.js';
import { WebClient } from './helpers/browser.js';

describe('site list import limit', () => {
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

  it('imports nothing from a file of more than 10,000 entries, and names the limit', async () => {
    const alice = new WebClient(t.publicUrl);
    const signIn = await alice.post('/signin/password', { _csrf: await alice.csrfOf('/signin'), address: 'alice@example.test', password: 'correct horse battery' });
    expect(signIn.status).toBe(303);
    const form = new FormData();
    form.append('_csrf', await alice.csrfOf('/lists'));
    form.append('list', 'white');
    form.append('file', new Blob([Array.from({ length: 10_001 }, (_, i) => `u${i}@bulk.test\n`).join('')], { type: 'text/csv' }), 'big.csv');
    const r = await alice.request('POST', '/lists/import', form);
    expect(r.status).toBe(400);
    expect(r.text).toContain('Nothing was imported: the file has more than 10,000 entries, the most one import takes.');
    expect((await t.db.query(`SELECT count(*)::int AS n FROM list_entries`)).rows).toEqual([{ n: 0 }]);
  });
});
