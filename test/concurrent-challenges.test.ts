/**
 * Challenged mail recorded while other things happen to the same pair: two messages from one sender
 * to the same users, recorded at the same moment with the recipients listed in opposite orders (two
 * MTA queue files, or one list expanded twice), are both stored, each pair gets one challenge, and
 * PostgreSQL never has to break a deadlock (which would cost one of the messages a 4xx and a retry);
 * a message stored just after its sender confirmed the challenge is released, not held.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { deriveChallengeToken, silentLogger, type Decision } from '@crgate/core';
import { addUser, confirmChallenge, createPool, ensureDatabase, findUserByAddress, migrate, recordMessage, type Db, type RecipientOutcome } from '@crgate/store';
import { PG_ADMIN_URL } from './helpers/environment.js';

const CHALLENGE: Decision = { action: 'challenge', reasons: [{ symbol: 'UNKNOWN_SENDER', weight: 1, detail: 'not on a list' }] };
const ROUNDS = 40;

describe('challenged mail from one sender recorded concurrently for the same users', () => {
  const name = `crgate_t_${randomBytes(5).toString('hex')}`;
  let db: Db;
  let users: number[];

  beforeAll(async () => {
    const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
    await ensureDatabase(url, silentLogger);
    db = createPool(url, { max: 8 });
    await migrate(db, silentLogger);
    users = [];
    for (const address of ['ann@example.test', 'ben@example.test', 'cai@example.test']) {
      await addUser(db, address);
      users.push((await findUserByAddress(db, address))!.id);
    }
  });

  afterAll(async () => {
    await db?.end();
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  });

  function record(sender: string, tag: string, userIds: number[]) {
    const raw = Buffer.from(`From: ${sender}\r\nSubject: ${tag}\r\n\r\nbody ${tag}\r\n`);
    const recipients: RecipientOutcome[] = userIds.map((userId) => ({ userId, rcptTo: `u${userId}@example.test`, decision: CHALLENGE, delivered: false }));
    return recordMessage(db, { mailFrom: sender, mailFromOriginal: sender, subject: tag, size: raw.length, sha256: tag }, raw, recipients, {
      now: new Date(),
      secret: 'x'.repeat(40),
      publicHost: 'crgate.test',
      tokenTtlDays: 14,
      perPairDays: 7,
      heldDays: 30,
      discardedDays: 7,
    });
  }

  it('stores both messages and one challenge per user and sender, whatever the order of the recipients', async () => {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const sender = `s${round}@remote.test`;
      const results = await Promise.allSettled([record(sender, `a${round}`, users), record(sender, `b${round}`, [...users].reverse())]);
      for (const r of results) if (r.status === 'rejected') failures.push(String((r.reason as Error).message));
    }
    expect(failures).toEqual([]);
    const { rows } = await db.query<{ n: number; challenges: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT challenge_id)::int AS challenges FROM message_recipients`,
    );
    expect(rows[0]).toEqual({ n: ROUNDS * 2 * users.length, challenges: ROUNDS * users.length });
  });

  it('releases a message whose sender confirmed the challenge while it was being decided, instead of holding it', async () => {
    const sender = 'confirming@remote.test';
    await record(sender, 'first', [users[0]!]);
    // The sender clicks: the challenge is confirmed (and the first message released) ...
    await db.query(`UPDATE challenges SET status = 'confirmed', confirmed_at = now() WHERE sender = $1`, [sender]);
    // ... while the ingest, which read the lists before the click, stores the next one as challenged.
    const [copy] = await record(sender, 'second', [users[0]!]);
    expect(copy!.decision.action).toBe('deliver');
    expect(copy!.decision.reasons.map((r) => r.symbol)).toContain('CHALLENGE_CONFIRMED');
    const { rows } = await db.query(`SELECT status FROM message_recipients WHERE id = $1`, [copy!.recipientId]);
    expect(rows).toEqual([{ status: 'releasing' }]);
    const jobs = await db.query(`SELECT job_name FROM outbox WHERE payload->>'recipientId' = $1`, [String(copy!.recipientId)]);
    expect(jobs.rows).toEqual([{ job_name: 'message.deliver' }]);
  });

  it('leaves no message held under a challenge its sender confirmed while the message was being stored', async () => {
    // The confirmation's release sees only committed copies: a copy stored at the same moment must
    // wait for it, then go the released path, or it stays held under a confirmed challenge for good.
    for (let round = 0; round < 100; round++) {
      const sender = `clicking${round}@remote.test`;
      await record(sender, `click-a${round}`, [users[1]!]);
      const { rows } = await db.query(`SELECT id, nonce FROM challenges WHERE sender = $1`, [sender]);
      const token = deriveChallengeToken('x'.repeat(40), rows[0].id, rows[0].nonce);
      await Promise.all([
        (async () => {
          await new Promise((resolve) => setTimeout(resolve, round % 4));
          expect((await confirmChallenge(db, token, new Date())).ok).toBe(true);
        })(),
        record(sender, `click-b${round}`, [users[1]!]),
      ]);
    }
    const stranded = await db.query(
      `SELECT r.sender FROM message_recipients r JOIN challenges c ON c.id = r.challenge_id
        WHERE c.status = 'confirmed' AND r.status = 'held' AND r.sender LIKE 'clicking%'`,
    );
    expect(stranded.rows).toEqual([]);
  });

  it('returns each recipient its own outcome, in the order given', async () => {
    const [first, second, third] = await record('order@remote.test', 'order', [users[2]!, users[0]!, users[1]!]);
    const { rows } = await db.query<{ id: number; user_id: number }>(`SELECT id, user_id FROM message_recipients WHERE id = ANY($1::bigint[])`, [
      [first!.recipientId, second!.recipientId, third!.recipientId],
    ]);
    const userOf = new Map(rows.map((r) => [r.id, r.user_id]));
    expect([first, second, third].map((c) => userOf.get(c!.recipientId))).toEqual([users[2], users[0], users[1]]);
  });
});
