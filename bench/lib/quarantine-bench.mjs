/**
 * The quarantine listing at scale: one user with 1,000,000 held messages (100,000 with --quick),
 * generated in a database of its own with INSERT … SELECT generate_series, then the real page fetched
 * over HTTP from the real web role (its own process, started as `crgate start --role web` starts it),
 * signed in with a session cookie: the first page and a deep page (a keyset cursor 90 % down), by date
 * and by score, and with filters and searches. Each is fetched several times; p50 and max are reported
 * against the goal (first and deep page ≤ 50 ms). The store's listQuarantine is timed on its own too,
 * and the web process's SQL statements are timed, so a slow page says whether PostgreSQL or the page
 * is slow.
 *
 * Called from bench/run.mjs (phase 5; --skip-quarantine leaves it out), or alone:
 *   node bench/lib/quarantine-bench.mjs [--quick] [--rows N]
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import pg from 'pg';
import { silentLogger } from '@crgate/core';
import { addUser, createSession, findUserByAddress, listQuarantine, openDatabase, setAdmin } from '@crgate/store';
import { deriveWebKeys, deriveWebSecret, signValue } from '@crgate/web';
import { forkChild } from './child.mjs';
import { fmt, summarize, table } from './stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const QUARANTINE_USER = 'held@crgate.bench.test';
export const QUARANTINE_GOAL_MS = 50;
const BATCH = 100_000;

/**
 * Held copies g = first..last of the user: 70 % challenged (UNKNOWN_SENDER), 30 % held as bulk mail
 * (BULK_PRECEDENCE), each with a CONTENT_UNSURE reason whose detail carries a content score (so the
 * generated `score` column is filled as the ingest's reasons fill it), one every 2.5 s going back
 * from now (a million is about 29 days), from 5,000 senders over 200 domains, with six subject words.
 * `messages.raw` is left NULL: the listing never reads it (a real body lives out of line in TOAST).
 */
export const GENERATE_SQL = `
WITH m AS (
  INSERT INTO messages (received_at, mail_from, subject, from_header, size, sha256)
  SELECT now() - g * interval '2.5 seconds',
         's' || (g % 5000) || '@d' || (g % 200) || '.remote.bench.test',
         (ARRAY['Invoice', 'Meeting', 'Offer', 'Newsletter', 'Delivery', 'Hello'])[1 + g % 6] || ' number ' || g,
         'Sender ' || (g % 5000) || ' <s' || (g % 5000) || '@d' || (g % 200) || '.remote.bench.test>',
         2000 + g % 30000,
         md5(g::text)
    FROM generate_series($2::int, $3::int) AS g
  RETURNING id, received_at, mail_from
)
INSERT INTO message_recipients (message_id, user_id, rcpt_to, sender, decision, reasons, status, created_at, expires_at, received_at)
SELECT m.id, $1, '${QUARANTINE_USER}', m.mail_from,
       CASE WHEN m.id % 10 < 7 THEN 'challenge' ELSE 'quarantine' END,
       jsonb_build_array(
         jsonb_build_object('symbol', CASE WHEN m.id % 10 < 7 THEN 'UNKNOWN_SENDER' ELSE 'BULK_PRECEDENCE' END, 'weight', 0, 'detail', ''),
         jsonb_build_object('symbol', 'CONTENT_UNSURE', 'weight', 0,
                            'detail', 'content score ' || to_char(((m.id * 7919) % 1000000) / 1000000.0, 'FM0.000000') || '; bench'))
       , 'held', m.received_at, m.received_at + interval '30 days', m.received_at
  FROM m`;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function rowsOnPage(html) {
  return (html.match(/name="ids" value="/g) ?? []).length;
}

/**
 * Runs the phase. `cleanups` (an array of functions run at exit) gets the database and the web
 * process; `log` prints progress. Returns the figures for the JSON and the report.
 */
export async function quarantineBench({ pgAdminUrl, redisUrl, quick = false, rows, reps, log = () => undefined, cleanups = [] }) {
  const total = rows ?? (quick ? 100_000 : 1_000_000);
  const repetitions = reps ?? (quick ? 5 : 20);
  const name = `crgate_bench_q_${randomBytes(4).toString('hex')}`;
  const databaseUrl = pgAdminUrl.replace(/\/[^/]*$/, `/${name}`);
  cleanups.push(async () => {
    const admin = new pg.Client({ connectionString: pgAdminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    log(`quarantine: removed database ${name}`);
  });
  log(`quarantine: database ${name}: creating, migrating`);
  const db = await openDatabase(databaseUrl, silentLogger, { max: 2 });
  cleanups.push(() => db.end());
  await addUser(db, QUARANTINE_USER);
  const user = await findUserByAddress(db, QUARANTINE_USER);

  let t0 = performance.now();
  for (let first = 1; first <= total; first += BATCH) {
    const last = Math.min(total, first + BATCH - 1);
    await db.query(GENERATE_SQL, [user.id, first, last]);
    log(`quarantine: ${last.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} held copies`);
  }
  const generateMs = performance.now() - t0;
  t0 = performance.now();
  // What autovacuum would have done by the time a real quarantine is this big: statistics and the
  // visibility map.
  await db.query('VACUUM ANALYZE messages');
  await db.query('VACUUM ANALYZE message_recipients');
  const vacuumMs = performance.now() - t0;
  // Both tables are partitioned by month: the parent itself holds nothing (0 bytes), its partitions do.
  const tableSize = (table) => `(SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('${table}'))`;
  const size = (await db.query(`SELECT ${tableSize('message_recipients')} AS r, ${tableSize('messages')} AS m`)).rows[0];
  log(`quarantine: generated in ${fmt(generateMs / 1000)} s, vacuumed in ${fmt(vacuumMs / 1000)} s (message_recipients ${size.r}, messages ${size.m})`);

  // Cursors of the row 90 % down each order, as the page would have put them in its "Older" link.
  const deepOffset = Math.floor(total * 0.9);
  const deepDate = (
    await db.query(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '_' || id AS c
         FROM message_recipients WHERE user_id = $1 AND status IN ('held', 'discarded')
        ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1`,
      [user.id, deepOffset],
    )
  ).rows[0].c;
  const deepScore = (
    await db.query(
      `SELECT COALESCE(score, -1)::text || '_' || id AS c
         FROM message_recipients WHERE user_id = $1 AND status IN ('held', 'discarded')
        ORDER BY COALESCE(score, -1) DESC, id DESC OFFSET $2 LIMIT 1`,
      [user.id, deepOffset],
    )
  ).rows[0].c;

  // The web role in its own process, as `crgate start --role web` runs it.
  const port = await freePort();
  const secret = randomBytes(32).toString('hex');
  const web = forkChild(join(HERE, 'engine-child.mjs'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(() => web.kill('SIGKILL'));
  web.send({
    type: 'start',
    roles: ['web'],
    env: {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      CRGATE_REDIS_PREFIX: name,
      CRGATE_WEB_LISTEN: `127.0.0.1:${port}`,
      CRGATE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      CRGATE_OPS_LISTEN: 'off',
      CRGATE_SECRET: secret,
    },
  });
  await web.waitFor('started', 120_000);
  // A signed-in session, made as the sign-in route makes it, and its cookie signed with the web key.
  const session = await createSession(db, user.id, new Date(), 12 * 3_600_000);
  const cookie = `crgate_session=${encodeURIComponent(signValue(deriveWebKeys(deriveWebSecret(secret)).session, session.id))}`;
  const base = `http://127.0.0.1:${port}`;

  const q = (params) => `/q${params ? `?${new URLSearchParams(params)}` : ''}`;
  const cases = [
    { name: 'first page, newest first', path: q(), goal: true, store: {} },
    { name: `deep page (after row ${deepOffset.toLocaleString('en-US')}), newest first`, path: q({ after: deepDate }), goal: true, store: { after: deepDate } },
    { name: 'first page, most spam-like first', path: q({ sort: 'score' }), goal: true, store: { sort: 'score' } },
    { name: 'deep page, most spam-like first', path: q({ sort: 'score', after: deepScore }), goal: true, store: { sort: 'score', after: deepScore } },
    { name: 'filter: decision held (30 %)', path: q({ decision: 'quarantine' }) },
    { name: 'filter: decision held, deep page', path: q({ decision: 'quarantine', after: deepDate }) },
    { name: 'filter: reason bulk mail (30 %)', path: q({ reason: 'BULK_PRECEDENCE' }) },
    { name: 'search: a word in 1 of 6 subjects', path: q({ q: 'invoice' }) },
    // These read every copy: a few repetitions say enough.
    { name: 'search: one sender (1 in 5,000)', path: q({ q: 's4321@d121.remote' }), reps: 3 },
    { name: 'search: no match (every row read)', path: q({ q: 'no such words' }), reps: 3 },
    // Not a quarantine page: the operator overview, which counts every copy of the last 30 days.
    { name: 'operator overview /admin (30 days)', path: '/admin', admin: true, reps: 3 },
  ];
  await setAdmin(db, QUARANTINE_USER, true);

  const measureHttp = async (path, n = repetitions) => {
    const ms = [];
    let rowsSeen;
    let status;
    for (let i = 0; i < n + 2; i++) {
      const t = performance.now();
      const res = await fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
      const html = await res.text();
      const elapsed = performance.now() - t;
      status = res.status;
      rowsSeen = rowsOnPage(html);
      if (i >= 2) ms.push(elapsed); // two warm-ups: plans cached, pages in shared buffers
    }
    return { status, rows: rowsSeen, ...summarize(ms) };
  };

  const results = [];
  await web.request('sql', { reset: true });
  for (const c of cases) {
    const http = await measureHttp(c.path, c.reps);
    let store;
    if (c.store) {
      const ms = [];
      for (let i = 0; i < repetitions + 2; i++) {
        const t = performance.now();
        await listQuarantine(db, { userId: user.id, limit: 50, ...c.store });
        if (i >= 2) ms.push(performance.now() - t);
      }
      store = summarize(ms);
    }
    log(`quarantine: ${c.name}: HTTP p50 ${fmt(http.p50)} ms, max ${fmt(http.max)} ms${store ? `; listQuarantine p50 ${fmt(store.p50)} ms` : ''} (${http.status}, ${http.rows} rows)`);
    if (c.admin) http.rows = undefined;
    results.push({ name: c.name, path: c.path.slice(0, 80), goal: Boolean(c.goal), http, ...(store ? { store } : {}) });
  }
  // The web process's own statement timings over all the requests above.
  const sql = (await web.request('sql')).slice(0, 6);
  await web.request('stop').catch(() => undefined);
  await web.exited;
  return { rows: total, repetitions, generateMs, vacuumMs, tableSizes: { messageRecipients: size.r, messages: size.m }, goalMs: QUARANTINE_GOAL_MS, cases: results, sql };
}

/** The phase's part of the printed report. */
export function quarantineReport(r) {
  const out = [];
  out.push(
    `Quarantine of ${r.rows.toLocaleString('en-US')} held messages for one user (generated in ${fmt(r.generateMs / 1000, 0)} s; message_recipients ${r.tableSizes.messageRecipients}, messages ${r.tableSizes.messages}); GET /q over HTTP from the web role, signed in, ${r.repetitions} times each (searches that read every copy and the overview 3 times) after 2 warm-ups:`,
  );
  const rows = [['Quarantine page (50 rows)', 'rows', 'HTTP p50 ms', 'HTTP max ms', 'listQuarantine p50 ms', `goal ≤ ${r.goalMs} ms (p50)`]];
  for (const c of r.cases) {
    const ok = c.http.status === 200 && c.http.p50 <= r.goalMs;
    rows.push([c.name, c.http.status === 200 ? (c.http.rows ?? '-') : `HTTP ${c.http.status}`, fmt(c.http.p50, 1), fmt(c.http.max, 1), c.store ? fmt(c.store.p50, 1) : '-', c.goal ? (ok ? 'ok' : 'MISSED') : ok ? '(info) ok' : '(info) over']);
  }
  out.push(table(rows));
  if (r.sql?.length) {
    out.push('SQL statements of the web process over these requests, by total time:');
    for (const s of r.sql) out.push(`  ${String(s.count).padStart(5)}×  ${fmt(s.totalMs / s.count, 2).padStart(8)} ms avg  ${s.text}`);
  }
  return out.join('\n');
}

// Alone: node bench/lib/quarantine-bench.mjs [--quick] [--rows N]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--rows');
  const cleanups = [];
  const log = (...a) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
  const run = async () => {
    try {
      const r = await quarantineBench({
        pgAdminUrl: process.env.CRGATE_TEST_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres',
        redisUrl: process.env.CRGATE_TEST_REDIS ?? 'redis://127.0.0.1:6379',
        quick: argv.includes('--quick'),
        rows: i >= 0 ? Number(argv[i + 1]) : undefined,
        log,
        cleanups,
      });
      process.stdout.write(`${quarantineReport(r)}\n`);
    } finally {
      for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    }
  };
  process.once('SIGINT', () => {
    Promise.all(cleanups.reverse().map((fn) => Promise.resolve(fn()).catch(() => undefined))).finally(() => process.exit(130));
  });
  run().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`quarantine bench crashed: ${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
