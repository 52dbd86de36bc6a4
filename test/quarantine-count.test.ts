/**
 * The count above the quarantine list is exact up to 1,000 copies and says only "more than 1,000"
 * past that: an exact count would read every copy on every page (see docs/performance.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { addUser, countQuarantine, findUserByAddress, openDatabase, type Db } from '@crgate/store';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';

describe('quarantine count', () => {
  let t: TestEnvironment;
  let db: Db;
  let userId: number;

  /** n copies with the given status, through the real schema. */
  async function copies(n: number, status: 'held' | 'discarded' | 'delivered'): Promise<void> {
    await db.query(
      `WITH m AS (
         INSERT INTO messages (mail_from, size, sha256)
         SELECT 'x@remote.test', 10, md5(random()::text || g) FROM generate_series(1, $2::int) AS g RETURNING id, received_at)
       INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, received_at)
       SELECT m.id, $1, 'alice@example.test', 'x@remote.test', $4, '[]', $3, m.received_at FROM m`,
      [userId, n, status, status === 'discarded' ? 'discard' : status === 'held' ? 'quarantine' : 'deliver'],
    );
  }

  beforeAll(async () => {
    t = await createTestEnvironment();
    db = await openDatabase(t.databaseUrl, silentLogger, { max: 2 });
    await addUser(db, 'alice@example.test');
    userId = (await findUserByAddress(db, 'alice@example.test'))!.id;
  });

  afterAll(async () => {
    await db?.end();
    await t?.cleanup();
  });

  it('counts held and discarded copies exactly up to the cap, leaving delivered ones out', async () => {
    await copies(600, 'held');
    await copies(400, 'discarded');
    await copies(50, 'delivered');
    expect(await countQuarantine(db, userId)).toEqual({ held: 600, discarded: 400 });
  });

  it('says only "more than" the cap past it', async () => {
    await copies(1, 'held');
    expect(await countQuarantine(db, userId)).toEqual({ held: 0, discarded: 0, moreThan: 1000 });
    expect(await countQuarantine(db, userId, 5000)).toEqual({ held: 601, discarded: 400 });
  });
});
