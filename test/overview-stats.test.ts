/**
 * The counts behind the operator overview (store: decisionSeries), on real PostgreSQL: copies per
 * decision and confirmations per UTC day or hour, with empty buckets present and nothing outside the
 * period counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@crgate/core';
import { addUser, decisionSeries, findUserByAddress, openDatabase, reasonCounts, setAdmin, type Db } from '@crgate/store';
import { createTestEnvironment, type TestEnvironment } from './helpers/environment.js';

const NOW = new Date('2026-03-15T10:30:00Z');
const DAY = 86_400_000;

describe('decision counts over time', () => {
  let t: TestEnvironment;
  let db: Db;
  let userId: number;
  let n = 0;

  async function copy(decision: string, at: Date, reasons: string[] = []): Promise<void> {
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO messages (received_at, mail_from, size, sha256) VALUES ($1, 'x@remote.test', 10, $2) RETURNING id`,
      [at, `sha-${n++}`],
    );
    await db.query(
      `INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, created_at, received_at)
       VALUES ($1, $2, 'alice@example.test', 'x@remote.test', $3, $6, $4, $5, $5)`,
      [rows[0]!.id, userId, decision, decision === 'deliver' ? 'delivered' : decision === 'discard' ? 'discarded' : 'held', at,
        JSON.stringify(reasons.map((symbol) => ({ symbol, weight: 1 })))],
    );
  }

  async function challenge(created: Date, confirmed: Date | null): Promise<void> {
    const id = crypto.randomUUID();
    await db.query(
      `INSERT INTO challenges (id, user_id, sender, nonce, token_hash, status, created_at, expires_at, confirmed_at, our_message_id)
       VALUES ($1, $2, $3, 'n', $7, $4, $5, $5::timestamptz + interval '14 days', $6, $8)`,
      [id, userId, `s${n++}@remote.test`, confirmed ? 'confirmed' : 'sent', created, confirmed, `hash-${id}`, `<${id}@crgate>`],
    );
  }

  beforeAll(async () => {
    t = await createTestEnvironment();
    db = await openDatabase(t.databaseUrl, silentLogger, { max: 2 });
    await addUser(db, 'alice@example.test');
    userId = (await findUserByAddress(db, 'alice@example.test'))!.id;
    const today = new Date('2026-03-15T00:00:00Z');
    await copy('deliver', new Date(today.getTime() + 1000)); // today
    await copy('deliver', new Date(today.getTime() + 9 * 3_600_000)); // today, 09:00
    await copy('challenge', new Date(today.getTime() - 1)); // yesterday, last millisecond
    await copy('quarantine', new Date(today.getTime() - 2 * DAY));
    await copy('discard', new Date(today.getTime() - 29 * DAY)); // first day of 30
    await copy('discard', new Date(today.getTime() - 29 * DAY - 1)); // just before the period
    await challenge(new Date(today.getTime() - 3 * DAY), new Date(today.getTime() - 1 * DAY + 5000));
    await challenge(new Date(today.getTime() - 3 * DAY), null);
  });

  afterAll(async () => {
    await db?.end();
    await t?.cleanup();
  });

  it('counts copies per decision per UTC day over 30 days ending today, with zeros for empty days', async () => {
    const s = await decisionSeries(db, 'day', 30, NOW);
    expect(s.buckets).toHaveLength(30);
    expect(s.since.toISOString()).toBe('2026-02-14T00:00:00.000Z');
    expect(s.until.toISOString()).toBe('2026-03-16T00:00:00.000Z');
    const day = (d: string) => s.buckets.find((b) => b.start.toISOString() === `${d}T00:00:00.000Z`)!;
    expect(day('2026-03-15')).toMatchObject({ deliver: 2, challenge: 0, quarantine: 0, discard: 0, confirmed: 0 });
    expect(day('2026-03-14')).toMatchObject({ deliver: 0, challenge: 1, confirmed: 1 });
    expect(day('2026-03-13')).toMatchObject({ quarantine: 1 });
    expect(day('2026-02-14')).toMatchObject({ discard: 1 });
    const total = s.buckets.reduce((sum, b) => sum + b.deliver + b.challenge + b.quarantine + b.discard, 0);
    expect(total).toBe(5);
  });

  it('counts a reason once per copy, even when the copy was given it twice', async () => {
    // Both external scorers voting spam give one copy SCORER_SPAM twice. Months before the other copies.
    const at = new Date('2025-06-10T12:00:00Z');
    await copy('discard', at, ['SCORER_SPAM', 'SCORER_SPAM', 'CONTENT_SPAM']);
    await copy('discard', at, ['SCORER_SPAM']);
    const counts = await reasonCounts(db, new Date('2025-06-01T00:00:00Z'));
    expect(counts).toEqual({ SCORER_SPAM: 2, CONTENT_SPAM: 1 });
  });

  it('counts per UTC hour over the last 48 hours', async () => {
    const s = await decisionSeries(db, 'hour', 48, NOW);
    expect(s.buckets).toHaveLength(48);
    expect(s.buckets.at(-1)!.start.toISOString()).toBe('2026-03-15T10:00:00.000Z');
    const hour = (h: string) => s.buckets.find((b) => b.start.toISOString() === `2026-03-${h}:00:00.000Z`)!;
    expect(hour('15T00').deliver).toBe(1);
    expect(hour('15T09').deliver).toBe(1);
    expect(hour('14T23').challenge).toBe(1);
    expect(hour('14T00').confirmed).toBe(1);
    expect(s.buckets.reduce((sum, b) => sum + b.quarantine + b.discard, 0)).toBe(0);
  });

  it('grants and revokes the admin flag of a user found by any of their addresses', async () => {
    await setAdmin(db, 'Alice+x@Example.test', true);
    expect((await findUserByAddress(db, 'alice@example.test'))!.isAdmin).toBe(true);
    await setAdmin(db, 'alice@example.test', false);
    expect((await findUserByAddress(db, 'alice@example.test'))!.isAdmin).toBe(false);
    await expect(setAdmin(db, 'nobody@example.test', true)).rejects.toThrow('no user nobody@example.test');
  });
});
