/**
 * Stored messages are partitioned by month of reception (migration 009): the migration keeps the mail
 * already stored, each message and its copies land in their month's partitions, rows outside every
 * month land in the default partition, and expiry drops a whole month once it is past the history
 * retention — but never a month that still holds a copy somebody may need.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { buffer, text } from 'node:stream/consumers';
import pg from 'pg';
import { silentLogger, type Decision } from '@crgate/core';
import {
  addUser,
  copyHeads,
  createPool,
  ensureDatabase,
  expireHistory,
  expireOld,
  findUserByAddress,
  getRecipientCopy,
  listMonthPartitions,
  listQuarantine,
  migrate,
  prepareMonthPartitions,
  RAW_PIECE_BYTES,
  recordMessage,
  storedBody,
  type Db,
  type RecordOptions,
} from '@crgate/store';
import { PG_ADMIN_URL } from './helpers/environment.js';

const MIGRATIONS = fileURLToPath(new URL('../packages/store/migrations/', import.meta.url));
const DAY = 86_400_000;
const databases: string[] = [];
const pools: Db[] = [];

async function newDatabase(): Promise<{ db: Db; url: string }> {
  const name = `crgate_t_${randomBytes(5).toString('hex')}`;
  databases.push(name);
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  await ensureDatabase(url, silentLogger);
  const db = createPool(url, { max: 3 });
  pools.push(db);
  return { db, url };
}

/** A database as it was before partitioning: every migration numbered below 009 applied. */
async function databaseBeforePartitioning(): Promise<Db> {
  const { db } = await newDatabase();
  await db.query('CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const file of (await readdir(MIGRATIONS)).filter((f) => /^\d+_.+\.sql$/.test(f) && f < '009').sort()) {
    await db.query(await readFile(MIGRATIONS + file, 'utf8'));
    await db.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
  }
  return db;
}

async function migratedDatabase(): Promise<Db> {
  const { db } = await newDatabase();
  await migrate(db, silentLogger);
  return db;
}

function options(now: Date, heldDays = 30): RecordOptions {
  return { now, secret: 'x'.repeat(40), publicHost: 'crgate.test', tokenTtlDays: 14, perPairDays: 7, heldDays, discardedDays: 7 };
}

const QUARANTINE: Decision = { action: 'quarantine', reasons: [{ symbol: 'CONTENT_UNSURE', weight: 0, detail: 'content score 0.5; unsure' }] };
const DELIVER: Decision = { action: 'deliver', reasons: [] };

/** Records one message for the user at `now`; held (quarantined) unless `delivered`. */
async function store(db: Db, userId: number, now: Date, opts: { delivered?: boolean; heldDays?: number; tag?: string } = {}) {
  const tag = opts.tag ?? randomBytes(4).toString('hex');
  const raw = Buffer.from(`From: s@remote.test\r\nSubject: ${tag}\r\n\r\nbody ${tag}\r\n`);
  const [copy] = await recordMessage(
    db,
    { mailFrom: 's@remote.test', mailFromOriginal: 's@remote.test', subject: tag, size: raw.length, sha256: tag },
    raw,
    [{ userId, rcptTo: 'alice@example.test', decision: opts.delivered ? DELIVER : QUARANTINE, delivered: !!opts.delivered }],
    options(now, opts.heldDays),
  );
  return copy!.recipientId;
}

async function partitionOf(db: Db, recipientId: number): Promise<{ copy: string; message: string }> {
  const { rows } = await db.query(
    `SELECT r.tableoid::regclass::text AS copy, m.tableoid::regclass::text AS message
       FROM message_recipients r JOIN messages m ON m.id = r.message_id AND m.received_at = r.received_at WHERE r.id = $1`,
    [recipientId],
  );
  return rows[0];
}

async function userId(db: Db): Promise<number> {
  await addUser(db, 'alice@example.test');
  return (await findUserByAddress(db, 'alice@example.test'))!.id;
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
});

describe('migration 009 on a database that already holds mail', () => {
  let db: Db;
  let before: { messages: unknown[]; copies: unknown[] };

  beforeAll(async () => {
    db = await databaseBeforePartitioning();
    await db.query(`INSERT INTO users (address) VALUES ('alice@example.test')`);
    // Mail of three different months, held, delivered and expired, one body still kept.
    await db.query(
      `INSERT INTO messages (received_at, mail_from, size, sha256, raw, subject, trace_id)
       VALUES ('2025-03-10T08:00:00Z', 'a@remote.test', 10, 'h1', 'raw one', 'one', 't1'),
              ('2025-04-20T09:00:00Z', 'b@remote.test', 20, 'h2', NULL, 'two', 't2'),
              ('2026-02-01T00:00:00Z', 'c@remote.test', 30, 'h3', 'raw three', 'three', 't3')`,
    );
    await db.query(
      `INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, created_at, expires_at)
       SELECT m.id, 1, 'alice@example.test', m.mail_from, d.decision, '[{"symbol":"CONTENT_UNSURE","weight":0,"detail":"content score 0.42; x"}]',
              d.status, m.received_at, m.received_at + interval '30 days'
         FROM messages m JOIN (VALUES ('h1', 'quarantine', 'held'), ('h2', 'deliver', 'delivered'), ('h3', 'quarantine', 'expired')) AS d(sha, decision, status)
           ON d.sha = m.sha256`,
    );
    before = {
      messages: (await db.query('SELECT * FROM messages ORDER BY id')).rows,
      copies: (await db.query('SELECT * FROM message_recipients ORDER BY id')).rows,
    };
    expect(await migrate(db, silentLogger)).toContain('009_partition_messages.sql');
  });

  it('keeps every message and copy with the same ids and values', async () => {
    const messages = (await db.query('SELECT * FROM messages ORDER BY id')).rows;
    const copies = (await db.query('SELECT * FROM message_recipients ORDER BY id')).rows;
    expect(messages).toEqual(before.messages);
    // The copies gain their message's received_at, nothing else changes (the score is still computed).
    expect(copies.map(({ received_at: _, ...rest }) => rest)).toEqual(before.copies);
    expect(copies.map((c) => c.score)).toEqual([0.42, 0.42, 0.42]);
  });

  it('puts existing mail in the partitions of the month it was received', async () => {
    const { rows } = await db.query(`SELECT sha256, tableoid::regclass::text AS part FROM messages ORDER BY id`);
    expect(rows).toEqual([
      { sha256: 'h1', part: 'messages_p202503' },
      { sha256: 'h2', part: 'messages_p202504' },
      { sha256: 'h3', part: 'messages_p202602' },
    ]);
  });

  it('goes on numbering messages and copies after the existing ones', async () => {
    const id = await store(db, 1, new Date());
    const copy = await getRecipientCopy(db, id);
    expect(copy!.recipientId).toBe(4);
    expect(copy!.messageId).toBe(4);
  });

  it('refuses a copy that names no stored message', async () => {
    await expect(
      db.query(
        `INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, received_at)
         VALUES (1, 1, 'alice@example.test', 'a@remote.test', 'deliver', '[]', 'delivered', '2025-03-10T08:00:01Z')`,
      ),
    ).rejects.toMatchObject({ code: '23503' });
  });
});

describe('month partitions', () => {
  let db: Db;
  let alice: number;

  beforeAll(async () => {
    db = await migratedDatabase();
    alice = await userId(db);
  });

  it('exist for this month and the next two after the migration', async () => {
    const now = new Date();
    const months = (await listMonthPartitions(db)).map((p) => p.suffix);
    for (let i = 0; i < 3; i++) {
      const m = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
      expect(months).toContain(`${m.getUTCFullYear()}${String(m.getUTCMonth() + 1).padStart(2, '0')}`);
    }
  });

  it('take a message and its copy into the partitions of the month it was received in', async () => {
    await prepareMonthPartitions(db, new Date('2031-05-31T23:59:59Z'), 0);
    const id = await store(db, alice, new Date('2031-05-31T23:59:59.999Z'));
    expect(await partitionOf(db, id)).toEqual({ copy: 'message_recipients_p203105', message: 'messages_p203105' });
  });

  it('catch in the default partition a message received in a month without partitions', async () => {
    const id = await store(db, alice, new Date('2100-01-15T12:00:00Z'));
    expect(await partitionOf(db, id)).toEqual({ copy: 'message_recipients_default', message: 'messages_default' });
  });

  it('move the default partition’s rows of a month into that month’s partitions when they are created', async () => {
    const id = await store(db, alice, new Date('2100-02-15T12:00:00Z'));
    expect(await prepareMonthPartitions(db, new Date('2100-02-01T00:00:00Z'), 0)).toEqual(['210002']);
    expect(await partitionOf(db, id)).toEqual({ copy: 'message_recipients_p210002', message: 'messages_p210002' });
    expect((await getRecipientCopy(db, id))!.raw!.toString()).toContain('body');
  });

  it('are made for a month while a message of that month is being stored into the default partition', async () => {
    const { db: own, url } = await newDatabase();
    await migrate(own, silentLogger);
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      const { rows } = await writer.query<{ id: string }>(
        `INSERT INTO messages (received_at, mail_from, size, sha256) VALUES ('2100-03-15T12:00:00Z', 's@remote.test', 1, 'open') RETURNING id`,
      );
      // The month's partitions are made while that insert is still open; it commits shortly after.
      const made = prepareMonthPartitions(own, new Date('2100-03-01T00:00:00Z'), 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await writer.query('COMMIT');
      expect(await made).toEqual(['210003']);
      const where = await own.query(`SELECT tableoid::regclass::text AS part FROM messages WHERE id = $1`, [rows[0]!.id]);
      expect(where.rows).toEqual([{ part: 'messages_p210003' }]);
    } finally {
      await writer.end();
    }
  });

  it('keep the quarantine list in order across months', async () => {
    const { db: own } = await newDatabase();
    await migrate(own, silentLogger);
    const user = await userId(own);
    await prepareMonthPartitions(own, new Date('2031-01-01T00:00:00Z'), 3);
    const ids: number[] = [];
    for (const day of ['2031-01-05', '2031-02-05', '2031-02-20', '2031-03-05', '2031-04-30']) ids.push(await store(own, user, new Date(`${day}T10:00:00Z`), { heldDays: 10_000 }));
    const first = await listQuarantine(own, { userId: user, limit: 2 });
    const second = await listQuarantine(own, { userId: user, limit: 2, after: first.next });
    const third = await listQuarantine(own, { userId: user, limit: 2, after: second.next });
    expect([...first.items, ...second.items, ...third.items].map((i) => i.id)).toEqual(ids.reverse());
    expect(third.next).toBeUndefined();
  });
});

describe('expiry of the stored-message history', () => {
  let db: Db;
  let alice: number;
  const now = new Date('2032-12-10T12:00:00Z');
  const history = 180;
  let finished: number;
  let heldLong: number;
  let failedLong: number;
  let finishedBesideHeld: number;
  let recent: number;
  let result: Awaited<ReturnType<typeof expireHistory>>;

  beforeAll(async () => {
    db = await migratedDatabase();
    alice = await userId(db);
    for (const month of ['2032-01-01', '2032-02-01', '2032-03-01', '2032-11-01']) await prepareMonthPartitions(db, new Date(`${month}T00:00:00Z`), 0);
    // January: everything finished (expired by the sweep, or delivered).
    finished = await store(db, alice, new Date('2032-01-10T00:00:00Z'));
    await store(db, alice, new Date('2032-01-20T00:00:00Z'), { delivered: true });
    // February: one copy still held (kept longer than the history by its own retention), one finished.
    heldLong = await store(db, alice, new Date('2032-02-10T00:00:00Z'), { heldDays: 1000 });
    finishedBesideHeld = await store(db, alice, new Date('2032-02-11T00:00:00Z'), { delivered: true });
    // March: a release that failed keeps its message for the operator.
    failedLong = await store(db, alice, new Date('2032-03-10T00:00:00Z'));
    await db.query(`UPDATE message_recipients SET status = 'failed' WHERE id = $1`, [failedLong]);
    // November: recent, inside the history.
    recent = await store(db, alice, new Date('2032-11-10T00:00:00Z'), { delivered: true });
    await expireOld(db, now);
    result = await expireHistory(db, now, history);
  });

  it('drops a month whose copies are all finished, with its messages', async () => {
    expect(result.droppedMonths).toContain('203201');
    expect((await listMonthPartitions(db)).map((p) => p.suffix)).not.toContain('203201');
    expect(await getRecipientCopy(db, finished)).toBeUndefined();
  });

  it('keeps a month that holds a copy still held, with the copy and its body', async () => {
    expect(result.keptMonths).toContain('203202');
    const copy = await getRecipientCopy(db, heldLong);
    expect(copy?.status).toBe('held');
    expect(copy?.raw?.toString()).toContain('body');
  });

  it('keeps a month that holds a failed release, with its body', async () => {
    expect(result.keptMonths).toContain('203203');
    expect((await getRecipientCopy(db, failedLong))?.raw?.toString()).toContain('body');
  });

  it('deletes the finished copies of a kept month row by row', async () => {
    expect(await getRecipientCopy(db, finishedBesideHeld)).toBeUndefined();
    expect(result.deletedCopies).toBe(1);
    expect(result.deletedMessages).toBe(1);
  });

  it('keeps months inside the history retention', async () => {
    expect((await getRecipientCopy(db, recent))?.status).toBe('delivered');
    expect((await listMonthPartitions(db)).map((p) => p.suffix)).toContain('203211');
  });

  it('keeps everything when the history is kept forever (historyDays 0)', async () => {
    expect(await expireHistory(db, new Date('2040-01-01T00:00:00Z'), 0)).toEqual({ droppedMonths: [], keptMonths: [], deletedCopies: 0, deletedMessages: 0 });
    expect((await getRecipientCopy(db, recent))?.status).toBe('delivered');
  });

  it('deletes finished rows the default partition caught once they are past the retention', async () => {
    const old = await store(db, alice, new Date('2001-06-01T00:00:00Z'), { delivered: true });
    const held = await store(db, alice, new Date('2001-06-02T00:00:00Z'), { heldDays: 100_000 });
    expect((await partitionOf(db, old)).copy).toBe('message_recipients_default');
    await expireHistory(db, now, history);
    expect(await getRecipientCopy(db, old)).toBeUndefined();
    expect((await getRecipientCopy(db, held))?.status).toBe('held');
  });
});

describe('two workers running the partition upkeep at once', () => {
  it('create each month once and drop each old month once, neither failing', async () => {
    const { db: first, url } = await newDatabase();
    await migrate(first, silentLogger);
    const second = createPool(url, { max: 3 });
    pools.push(second);
    const alice = await userId(first);
    await prepareMonthPartitions(first, new Date('2033-01-01T00:00:00Z'), 0);
    await store(first, alice, new Date('2033-01-05T00:00:00Z'), { delivered: true });
    const created = await Promise.all([first, second].map((db) => prepareMonthPartitions(db, new Date('2034-01-01T00:00:00Z'), 3)));
    expect(created.flat().sort()).toEqual(['203401', '203402', '203403', '203404']);
    const swept = await Promise.all([first, second].map((db) => expireHistory(db, new Date('2034-01-15T00:00:00Z'), 180)));
    expect(swept.flatMap((s) => s.droppedMonths).filter((m) => m === '203301')).toEqual(['203301']);
  });
});

describe('partition upkeep on a busy table', () => {
  it('leaves a month for the next hour when it cannot have the lock within seconds', async () => {
    const { db } = await newDatabase();
    await migrate(db, silentLogger);
    const alice = await userId(db);
    await prepareMonthPartitions(db, new Date('2035-01-01T00:00:00Z'), 0);
    const id = await store(db, alice, new Date('2035-01-05T00:00:00Z'), { delivered: true });
    // A long reader (a report, a backup) holds the table.
    const reader = await db.connect();
    await reader.query('BEGIN');
    await reader.query('SELECT count(*) FROM messages');
    try {
      const busy = await expireHistory(db, new Date('2036-01-15T00:00:00Z'), 180);
      expect(busy.droppedMonths).not.toContain('203501');
      expect((await getRecipientCopy(db, id))?.status).toBe('delivered');
    } finally {
      await reader.query('ROLLBACK');
      reader.release();
    }
    expect((await expireHistory(db, new Date('2036-01-15T00:00:00Z'), 180)).droppedMonths).toContain('203501');
  });
});

describe('a body larger than one piece', () => {
  const CHALLENGE: Decision = { action: 'challenge', reasons: [{ symbol: 'UNKNOWN_SENDER', weight: 0, detail: 'not on a list' }] };
  let db: Db;
  let url: string;
  let userId: number;

  beforeAll(async () => {
    ({ db, url } = await newDatabase());
    await migrate(db, silentLogger);
    await addUser(db, 'alice@example.test');
    userId = (await findUserByAddress(db, 'alice@example.test'))!.id;
  });

  /** Random bytes that do not fill the last piece: a piece boundary that falls inside the message. */
  const bigBody = () => randomBytes(Math.floor(RAW_PIECE_BYTES * 2.5));

  async function storedRaw(recipientId: number): Promise<Buffer> {
    const { rows } = await db.query(
      `SELECT m.raw FROM messages m JOIN message_recipients r ON r.message_id = m.id WHERE r.id = $1`,
      [recipientId],
    );
    return rows[0].raw;
  }

  /** Records `raw` from a new sender as held for alice; returns its copy's id. */
  async function recordHeld(pool: Db, raw: Buffer, decision: Decision): Promise<number> {
    const sender = `s${randomBytes(3).toString('hex')}@remote.test`;
    const [copy] = await recordMessage(
      pool,
      { mailFrom: sender, mailFromOriginal: sender, size: raw.length, sha256: randomBytes(8).toString('hex') },
      raw,
      [{ userId, rcptTo: 'alice@example.test', decision, delivered: false }],
      options(new Date()),
    );
    return copy!.recipientId;
  }

  for (const [how, decision] of [['quarantined', QUARANTINE], ['held for a challenge', CHALLENGE]] as const) {
    it(`is stored byte for byte when ${how}`, async () => {
      const raw = bigBody();
      expect((await storedRaw(await recordHeld(db, raw, decision))).equals(raw)).toBe(true);
    });
  }

  it('gives the learner only the first bytes of a stored body, and nothing for a copy without one', async () => {
    const raw = bigBody();
    const id = await recordHeld(db, raw, QUARANTINE);
    const heads = await copyHeads(db, [id, id + 1_000_000], 256 * 1024);
    expect([...heads.keys()]).toEqual([id]);
    expect(heads.get(id)!.equals(raw.subarray(0, 256 * 1024))).toBe(true);
    const copy = await getRecipientCopy(db, id, { headBytes: 1000 });
    expect(copy!.raw!.equals(raw.subarray(0, 1000))).toBe(true);
    expect((await getRecipientCopy(db, id))!.raw!.equals(raw)).toBe(true);
  });

  it('streams a stored body for a release a slice at a time, byte for byte, whether or not its length is a multiple of the slice', async () => {
    const slice = 64 * 1024;
    for (const raw of [bigBody(), randomBytes(slice * 3)]) {
      const copy = (await getRecipientCopy(db, await recordHeld(db, raw, QUARANTINE), { withoutBody: true }))!;
      expect(copy.raw).toBeNull();
      expect(copy.bodyStored).toBe(true);
      expect((await buffer(storedBody(db, copy.messageId, slice).stream())).equals(raw)).toBe(true);
    }
  });

  it('fails the stream of a body that is no longer stored, so the release is retried rather than sent empty', async () => {
    const copy = (await getRecipientCopy(db, await recordHeld(db, randomBytes(1000), QUARANTINE), { withoutBody: true }))!;
    await db.query(`UPDATE messages SET raw = NULL WHERE id = $1`, [copy.messageId]);
    expect((await getRecipientCopy(db, copy.recipientId, { withoutBody: true }))!.bodyStored).toBe(false);
    await expect(text(storedBody(db, copy.messageId).stream())).rejects.toThrow(/no longer stored/);
  });

  it('does not carry one message’s pieces into the next on the same connection', async () => {
    const one = createPool(url, { max: 1 });
    pools.push(one);
    const copies: Array<{ id: number; raw: Buffer }> = [];
    for (const raw of [bigBody(), randomBytes(RAW_PIECE_BYTES + 1)]) copies.push({ id: await recordHeld(one, raw, QUARANTINE), raw });
    for (const c of copies) expect((await storedRaw(c.id)).equals(c.raw)).toBe(true);
    // The pieces went through this connection's temporary table, and none of them outlived its transaction.
    const { rows } = await one.query(`SELECT count(*)::int AS n FROM pg_temp.crgate_raw_pieces`);
    expect(rows[0].n).toBe(0);
  });
});
