#!/usr/bin/env node
/**
 * `npm run bench`: how much LMTP traffic crgate's ingest takes, compared with a bare smtp-server, and
 * what large and hostile messages cost it. A benchmark, not a test: it prints a table, saves the
 * figures as JSON under bench/results/<timestamp>.json, and exits 0 unless something crashed (a goal
 * missed is printed as MISSED, not turned into a failure). docs/performance.md explains the method.
 *
 * It starts everything it needs on loopback (a DNS server, delivery and relay sinks, the servers under
 * test and the load generator, each server and the load generator in its own process) and removes its
 * PostgreSQL database and Redis keys at the end, also on Ctrl-C.
 *
 * Options:
 *   --count N          messages per full-load run (default 20000)
 *   --connections N    LMTP connections (default 16)
 *   --max-seconds S    cap on the crgate full-load run (default 60)
 *   --half-seconds S   length of the half-load run (default 20)
 *   --profile          run the crgate engine under --cpu-prof and print its top self-time functions
 *   --logging          let the engine log at info (JSON to a discarded stdout) instead of silentLogger
 *   --no-classifier    run crgate with CRGATE_CLASSIFIER_ENABLED=false (to see what the classifier costs)
 *   --skip-ceiling, --skip-hostile, --quick (small counts, for trying the bench itself)
 *   --skip-quarantine  leave out phase 5, the quarantine listing at 1,000,000 held messages
 *                      (lib/quarantine-bench.mjs; 100,000 with --quick)
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { silentLogger } from '@crgate/core';
import { addUser, findUserByAddress, openDatabase, PgTokenStore } from '@crgate/store';
import { trainFolders } from '@crgate/cli';
import { startDnsServer } from './lib/dns-server.mjs';
import { startSink } from './lib/sink.mjs';
import { forkChild } from './lib/child.mjs';
import { LmtpClient, outcomeOf } from './lib/lmtp-client.mjs';
import { fmt, table } from './lib/stats.mjs';
import { analyse } from './lib/cpuprofile.mjs';
import { diff as sysDiff, snapshot as sysSnapshot } from './lib/sysstat.mjs';
import { HOSTILE_CASES, DKIM_DOMAIN, bigMessage, dkimKey } from './lib/hostile.mjs';
import { quarantineBench, quarantineReport } from './lib/quarantine-bench.mjs';
import {
  BENCH_USER,
  BLACKLIST_SQL,
  CLIENT,
  MIX,
  WHITELIST_SQL,
  WHITELIST_SIZE,
  corpusSets,
  toWire,
  unknownSender,
} from './lib/workload.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const CORPUS = process.env.CRGATE_BENCH_CORPUS ?? '/work/shared/corpus';
const PG_ADMIN_URL = process.env.CRGATE_TEST_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.CRGATE_TEST_REDIS ?? 'redis://127.0.0.1:6379';

const GOALS = {
  ratio: 0.1,
  ratioStretch: 0.2,
  halfLoadP99Ms: 70,
  loopLagP99Ms: 50,
  bigRssMb: 75,
  hostileCpuMs: 1000,
};

// ---------------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
};
const quick = flag('--quick');
const opts = {
  count: option('--count', quick ? 2000 : 20_000),
  connections: option('--connections', 16),
  maxSeconds: option('--max-seconds', quick ? 15 : 60),
  halfSeconds: option('--half-seconds', quick ? 5 : 20),
  warmup: quick ? 300 : 1500,
  profile: flag('--profile'),
  logging: flag('--logging'),
  noClassifier: flag('--no-classifier'),
  skipCeiling: flag('--skip-ceiling'),
  skipHostile: flag('--skip-hostile'),
  skipQuarantine: flag('--skip-quarantine'),
  quick,
};

const log = (...a) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------
// Resources to clean up, whatever happens

const cleanups = [];
let cleaning;
async function cleanup() {
  cleaning ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`cleanup step failed: ${err?.message ?? err}`);
      }
    }
  })();
  return cleaning;
}
let aborting = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    aborting = true;
    log(`${sig}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}
process.on('uncaughtException', (err) => {
  if (!aborting) process.stderr.write(`bench crashed: ${err?.stack ?? err}\n`);
  cleanup().finally(() => process.exit(aborting ? 130 : 1));
});

// ---------------------------------------------------------------------------------------------------
// DNS: what the engine's resolver is told (CRGATE_DNS_SERVERS points here)

function dnsAnswers(dkimTxt) {
  const SENDER_ZONES = ['.wl.bench.test', '.bl.bench.test', '.ext.bench.test', '.remote.bench.test', '.crgate.bench.test'];
  const isSenderDomain = (name) => SENDER_ZONES.some((z) => name.endsWith(z)) || name === 'remote.bench.test' || name === 'crgate.bench.test';
  return (name, type) => {
    if (name.endsWith(`._domainkey.${DKIM_DOMAIN}`)) return type === 'TXT' ? { records: [{ type: 'TXT', data: dkimTxt }] } : { records: [] };
    if (name === '7.113.0.203.in-addr.arpa') return type === 'PTR' ? { records: [{ type: 'PTR', data: CLIENT.helo }] } : { records: [] };
    if (name.split('.').some((label) => label.startsWith('_'))) return { nxdomain: true }; // _dmarc and friends: none published
    if (name === CLIENT.helo) return type === 'A' ? { records: [{ type: 'A', data: CLIENT.addr }] } : { records: [] };
    if (!isSenderDomain(name)) return { nxdomain: true };
    switch (type) {
      case 'MX':
        return { records: [{ type: 'MX', data: { preference: 10, exchange: `mx.${name}` } }] };
      case 'TXT':
        return { records: [{ type: 'TXT', data: `v=spf1 ip4:${CLIENT.addr} -all` }] };
      case 'A':
        return { records: [{ type: 'A', data: '192.0.2.25' }] };
      default:
        return { records: [] };
    }
  };
}

// ---------------------------------------------------------------------------------------------------
// Load runs

async function runLoad(port, { count, rate, maxSeconds, offset, files, seed = 7 }) {
  const gen = forkChild(join(HERE, 'lib/load-gen.mjs'));
  try {
    gen.send({ port, connections: opts.connections, count, rate, maxSeconds, offset, seed, files });
    await gen.waitFor('ready', 60_000);
    return { gen };
  } catch (err) {
    await gen.kill('SIGKILL');
    throw err;
  }
}

/** Which process a CPU tick belongs to: our database's backends, PostgreSQL's shared processes, Redis, or others. */
let benchDbName = '';
function classifyProcess(comm, cmdline) {
  if (comm === 'postgres') {
    if (benchDbName && cmdline.includes(` ${benchDbName} `)) return 'postgres';
    if (/^postgres: \S+: (\S+ \S+ \d|autovacuum worker)/.test(cmdline)) return 'other processes';
    return 'postgres (shared)';
  }
  if (comm === 'redis-server') return 'redis';
  return undefined;
}

/** Connects the load generator, marks the server's stats, runs, and reads the server's stats. */
async function measured(server, port, load) {
  const { gen } = await runLoad(port, load);
  await server.request('mark');
  const pids = { server: server.child.pid, loadgen: gen.child.pid, bench: process.pid };
  if (server.isEngine) await server.request('sql', { reset: true });
  const sys0 = sysSnapshot(classifyProcess, pids);
  gen.send({ type: 'go' });
  const msg = await gen.waitFor('result', (load.maxSeconds ?? 600) * 1000 + 120_000);
  const stats = await server.request('read');
  const cpu = sysDiff(sys0, sysSnapshot(classifyProcess, pids));
  const sql = server.isEngine ? (await server.request('sql')).slice(0, 25) : undefined;
  await gen.exited;
  const r = msg.result;
  return {
    ...r,
    server: stats,
    cpuMsPerMessage: stats.cpuMs / r.sent,
    machineCpu: cpu,
    ...(sql ? { sql } : {}),
  };
}

/**
 * Waits until the engine has worked off what the last run queued (challenges to send, background
 * learning): CPU under `engine.quietPct` of a core over 300 ms. That threshold is the idle engine's
 * own use (timers, BullMQ, the profiler when on) plus a margin, measured once after start.
 */
async function quiesce(engine, maxMs = 30_000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < maxMs) {
    await engine.request('mark');
    await sleep(300);
    last = await engine.request('read');
    const pct = (last.cpuMs / last.wallMs) * 100;
    if (pct < (engine.quietPct ?? 5)) return { quiet: true, waitedMs: Date.now() - t0, idleCpuPct: pct };
  }
  return { quiet: false, waitedMs: Date.now() - t0, lastCpuPct: last ? (last.cpuMs / last.wallMs) * 100 : undefined };
}

function smtpSourceCeiling(port, count) {
  let bin;
  try {
    bin = execFileSync('sh', ['-c', 'command -v smtp-source'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
  if (!bin) return undefined;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(bin, ['-L', '-d', '-s', String(opts.connections), '-m', String(count), '-l', '4096', '-f', 'load@remote.bench.test', '-t', BENCH_USER, `127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      resolve(code === 0 ? { sent: count, elapsedMs: ms, rate: (count * 1000) / ms, messageBytes: 4096 } : { error: `exit ${code}: ${err.slice(0, 200)}` });
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Engine

async function startEngineChild(env, { profileDir } = {}) {
  const execArgv = ['--expose-gc'];
  if (profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  const engine = forkChild(join(HERE, 'lib/engine-child.mjs'), {
    execArgv,
    stdio: ['ignore', opts.logging ? 'ignore' : 'inherit', 'inherit', 'ipc'],
  });
  engine.send({ type: 'start', env, roles: ['ingest', 'worker'], logging: opts.logging });
  await engine.waitFor('started', 120_000);
  engine.isEngine = true;
  await sleep(500);
  await engine.request('mark');
  await sleep(1000);
  const idle = await engine.request('read');
  engine.idleCpuPct = (idle.cpuMs / idle.wallMs) * 100;
  engine.quietPct = Math.max(5, engine.idleCpuPct * 1.5 + 3);
  return engine;
}

async function stopEngine(engine) {
  const stats = await engine.request('stop').catch(() => undefined);
  const exit = await Promise.race([engine.exited, sleep(40_000).then(() => undefined)]);
  if (!exit) await engine.kill('SIGKILL');
  return stats;
}

async function sendOne(port, mailFrom, raw, timeoutMs = 120_000) {
  const client = await new LmtpClient(port).connect();
  let timer;
  try {
    const t0 = performance.now();
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ replies: [{ code: 0, text: `no reply within ${timeoutMs / 1000} s` }], latencyMs: undefined }), timeoutMs);
    });
    const res = await Promise.race([client.send(mailFrom, [BENCH_USER], toWire(raw)), timeout]);
    return { ...res, totalMs: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

/** One message on an otherwise idle engine: CPU and RSS to the reply, and CPU until it is quiet again. */
async function measureOne(engine, port, name, mailFrom, raw) {
  const q = await quiesce(engine, 20_000);
  const before = await engine.request('mark', { gc: true }); // a full GC first, then the RSS baseline
  const res = await sendOne(port, mailFrom, raw);
  const atReply = await engine.request('read');
  // Work started by the message but done after the reply (learning, the challenge job), less what
  // the engine uses when idle.
  const idlePerMs = (q.idleCpuPct ?? engine.idleCpuPct ?? 0) / 100;
  let settled = atReply;
  for (let i = 0; i < 40; i++) {
    await sleep(250);
    const s = await engine.request('read');
    const recent = s.cpuMs - settled.cpuMs - (s.wallMs - settled.wallMs) * idlePerMs;
    settled = s;
    if (recent < 5) break;
  }
  const reply = res.replies[0];
  return {
    name,
    bytes: raw.length,
    reply: `${reply.code} ${reply.text.replace(/^\d{3}[ -]/, '').replace(/\n/g, ' ')}`.slice(0, 80),
    outcome: outcomeOf(reply),
    latencyMs: res.latencyMs,
    cpuMsToReply: atReply.cpuMs,
    cpuMsSettled: atReply.cpuMs + Math.max(0, settled.cpuMs - atReply.cpuMs - (settled.wallMs - atReply.wallMs) * idlePerMs),
    rssBeforeMb: before.rssMb,
    peakRssMb: settled.peakRssMb,
    rssGrowthMb: settled.peakRssMb - before.rssMb,
    eventLoopDelayMaxMs: atReply.eventLoopDelayMs.max,
  };
}

// ---------------------------------------------------------------------------------------------------

async function machineInfo(db) {
  const cpus = os.cpus();
  const pgVersion = (await db.query('SHOW server_version')).rows[0].server_version;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const info = await redis.info('server');
  redis.disconnect();
  let commit;
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'packages'], { encoding: 'utf8' }).trim();
    commit = `${head}${dirty ? ' (packages/ modified)' : ''}`;
  } catch {
    commit = undefined;
  }
  return {
    commit,
    cpu: cpus[0]?.model?.trim(),
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 1073741824),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: pgVersion,
    redis: /redis_version:(\S+)/.exec(info)?.[1],
  };
}

async function main() {
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(HERE, 'results');
  mkdirSync(resultsDir, { recursive: true });
  if (Number(process.versions.node.split('.')[0]) < 24) log(`warning: Node ${process.version}; crgate wants 24 (run through npm so node_modules/.bin comes first)`);

  // How busy the machine is before we start: on a shared machine, someone else's build or test run
  // takes CPU from the servers measured here, and the figures say so.
  const pre0 = sysSnapshot(() => undefined, {});
  await sleep(2000);
  const preflight = sysDiff(pre0, sysSnapshot(() => undefined, {}));
  if (preflight && preflight.machineBusyPct > 10) log(`warning: the machine is already ${fmt(preflight.machineBusyPct, 0)}% busy; figures will be noisy`);

  // ---- setup --------------------------------------------------------------------------------------
  const name = `crgate_bench_${randomBytes(4).toString('hex')}`;
  const databaseUrl = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  benchDbName = name;
  cleanups.push(async () => {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${name}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) removed += await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    log(`removed database ${name} and ${removed} Redis keys`);
  });

  const key = dkimKey();
  const dns = await startDnsServer(dnsAnswers(key.txt));
  cleanups.push(() => dns.close());
  const deliverSink = await startSink('lmtp');
  const relaySink = await startSink('smtp');
  cleanups.push(() => deliverSink.close());
  cleanups.push(() => relaySink.close());

  log(`database ${name}: creating, migrating`);
  const db = await openDatabase(databaseUrl, silentLogger, { max: 6 });
  cleanups.push(() => db.end());
  const machine = await machineInfo(db);
  await addUser(db, BENCH_USER);
  const user = await findUserByAddress(db, BENCH_USER);

  let t = performance.now();
  await db.query(WHITELIST_SQL, [user.id]);
  await db.query(BLACKLIST_SQL, [user.id]);
  await db.query('ANALYZE list_entries');
  const whitelistMs = performance.now() - t;
  log(`whitelist: ${WHITELIST_SIZE.toLocaleString('en-US')} entries in ${fmt(whitelistMs / 1000)} s`);

  const sets = corpusSets(CORPUS);
  t = performance.now();
  const trained = await trainFolders(new PgTokenStore(db), 0, [
    { label: 'ham', paths: sets.trainHam },
    { label: 'spam', paths: sets.trainSpam },
  ]);
  await db.query('ANALYZE');
  const trainMs = performance.now() - t;
  log(`classifier: trained ${trained.ham} ham + ${trained.spam} spam in ${fmt(trainMs / 1000)} s`);

  const results = {
    version: 1,
    startedAt: new Date(started).toISOString(),
    machine,
    preflightBusyPct: preflight?.machineBusyPct,
    options: opts,
    goals: GOALS,
    workload: {
      corpus: CORPUS,
      filesSent: sets.loadFiles.length,
      meanBytes: Math.round(sets.loadFiles.reduce((sum, f) => sum + statSync(f).size, 0) / sets.loadFiles.length),
      mix: { ...MIX, unknown: 1 - MIX.whitelisted - MIX.blacklisted },
      whitelistEntries: WHITELIST_SIZE,
      trained,
      setup: { whitelistMs, trainMs },
    },
  };

  // ---- 1. ceiling -------------------------------------------------------------------------------
  if (!opts.skipCeiling) {
    log('ceiling: bare smtp-server LMTP');
    const ceiling = forkChild(join(HERE, 'lib/ceiling-server.mjs'));
    cleanups.push(() => ceiling.kill('SIGKILL'));
    const { port } = await ceiling.waitFor('listening');
    await measured(ceiling, port, { count: opts.warmup * 2, offset: 10_000_000, files: sets.loadFiles });
    // Best of two: the ceiling is what the server can do, and a second run on a shared machine
    // is the cheapest guard against a burst of someone else's work.
    const runs = [];
    for (let i = 0; i < 2; i++) runs.push(await measured(ceiling, port, { count: opts.count, offset: 0, files: sets.loadFiles }));
    results.ceiling = runs.reduce((a, b) => (b.rate > a.rate ? b : a));
    results.ceiling.runs = runs.map((x) => Math.round(x.rate));
    log(`ceiling: ${runs.map((x) => fmt(x.rate, 0)).join(', ')} msg/s`);
    results.ceilingSmtpSource = await smtpSourceCeiling(port, opts.count);
    if (results.ceilingSmtpSource?.rate) log(`ceiling (smtp-source, 4 KB): ${fmt(results.ceilingSmtpSource.rate, 0)} msg/s`);
    await ceiling.request('stop').catch(() => undefined);
    await ceiling.exited;
  }

  // ---- 2-3. crgate ingest -----------------------------------------------------------------------
  const baseEnv = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    CRGATE_REDIS_PREFIX: name,
    CRGATE_LMTP_LISTEN: '127.0.0.1:0',
    CRGATE_LMTP_HOSTNAME: 'crgate.bench.test',
    CRGATE_PUBLIC_URL: 'http://confirm.crgate.bench.test',
    CRGATE_DELIVER_TO: `lmtp://127.0.0.1:${deliverSink.port}`,
    CRGATE_SMTP_RELAY: `smtp://127.0.0.1:${relaySink.port}`,
    CRGATE_DNS_SERVERS: dns.address,
    CRGATE_DNS_TIMEOUT_MS: '1000',
    CRGATE_OPS_LISTEN: 'off',
    CRGATE_LOG_LEVEL: 'info',
    CRGATE_SECRET: randomBytes(32).toString('hex'),
    // The default 1,000 challenges an hour is less than one run sends: past it every challenge job is
    // suppressed, a cheaper path, and runs before 2026-12-03 evening measured the half load without
    // any challenge sent.
    CRGATE_CHALLENGE_GLOBAL_PER_HOUR: '100000000',
    ...(opts.noClassifier ? { CRGATE_CLASSIFIER_ENABLED: 'false' } : {}),
  };
  // The LMTP port is chosen by the engine (port 0); find it by asking the kernel is awkward across
  // processes, so pick a free one here instead.
  const freePort = async () => {
    const net = await import('node:net');
    return new Promise((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
  };

  const profileDir = opts.profile ? join(resultsDir, `profile-${stamp}`) : undefined;
  const lmtpPort = await freePort();
  log(`crgate: starting the engine (ingest + worker)${opts.profile ? ' under --cpu-prof' : ''}`);
  const engine = await startEngineChild({ ...baseEnv, CRGATE_LMTP_LISTEN: `127.0.0.1:${lmtpPort}` }, { profileDir });
  cleanups.push(() => engine.kill('SIGKILL'));

  await measured(engine, lmtpPort, { count: opts.warmup, offset: 20_000_000, files: sets.loadFiles });
  const q1 = await quiesce(engine, 45_000);
  log(`crgate: warmed up (${q1.quiet ? `quiet after ${fmt(q1.waitedMs / 1000)} s` : 'worker still busy'}); full load`);
  const full = await measured(engine, lmtpPort, { count: opts.count, offset: 0, maxSeconds: opts.maxSeconds, files: sets.loadFiles });
  results.crgate = { ...full, quiescedBefore: q1, engineIdleCpuPct: engine.idleCpuPct };
  log(`crgate: ${fmt(full.rate, 0)} msg/s, p99 ${fmt(full.latency.p99)} ms`);

  const q2 = await quiesce(engine, 60_000);
  const halfRate = Math.max(1, full.rate / 2);
  log(`crgate: half load at ${fmt(halfRate, 0)} msg/s for ${opts.halfSeconds} s (${q2.quiet ? 'worker quiet' : 'worker still busy'})`);
  const half = await measured(engine, lmtpPort, {
    count: Math.round(halfRate * opts.halfSeconds),
    rate: halfRate,
    offset: 30_000_000,
    files: sets.loadFiles,
  });
  results.crgateHalf = { ...half, targetRate: halfRate, quiescedBefore: q2 };
  log(`crgate: half load p99 ${fmt(half.latency.p99)} ms`);
  await quiesce(engine, 30_000);
  results.engineLifetime = await stopEngine(engine);
  results.sinks = { delivered: { ...deliverSink.stats }, relayed: { ...relaySink.stats } };
  const counts = await db.query(
    `SELECT (SELECT count(*) FROM challenges)::int AS challenges,
            (SELECT count(*) FROM challenges WHERE status = 'sent')::int AS challenges_sent,
            (SELECT count(*) FROM challenges WHERE status = 'suppressed')::int AS challenges_suppressed,
            (SELECT count(*) FROM message_recipients)::int AS copies`,
  );
  results.database = counts.rows[0];

  const readProfile = (dir) => {
    // One file per thread; the main thread's has thread id 0 (CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile).
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => /\.0\.\d+\.cpuprofile$/.test(f)) : [];
    if (!files.length) return undefined;
    const a = analyse(join(dir, files[0]), ROOT);
    return { file: relative(ROOT, join(dir, files[0])), busyMs: a.busyMs, top: a.top.slice(0, 25), byOrigin: a.byOrigin.slice(0, 25) };
  };
  if (profileDir) results.profile = readProfile(profileDir);

  // ---- 4. large and hostile messages ----------------------------------------------------------------
  if (!opts.skipHostile) {
    const hostileEnv = async (profile) => {
      const port = await freePort();
      const env = { ...baseEnv, CRGATE_LMTP_LISTEN: `127.0.0.1:${port}`, CRGATE_LMTP_MAX_SIZE: String(64 * 1024 * 1024) };
      const e = await startEngineChild(env, { profileDir: profile });
      cleanups.push(() => e.kill('SIGKILL'));
      // Ordinary mail first, so the case measured does not pay for loading and compiling code.
      await measured(e, port, { count: 200, offset: 40_000_000 + Math.floor(Math.random() * 1e6), files: sets.loadFiles });
      return { e, port };
    };
    const hostile = [];
    let n = 0;
    const fresh = () => unknownSender(100_000 + n++); // a new unknown sender each time
    // The reference: a bare smtp-server that keeps the message as one buffer (as crgate must until it
    // is stored or delivered). What it adds is the floor under the goal, not crgate's doing.
    {
      log('hostile: bare smtp-server keeping one copy; 50 MB message');
      // --expose-gc as for crgate's engine: the full collection before the baseline is a no-op without it.
      const bare = forkChild(join(HERE, 'lib/ceiling-server.mjs'), { execArgv: ['--expose-gc'], env: { ...process.env, CEILING_KEEP: '1' } });
      cleanups.push(() => bare.kill('SIGKILL'));
      const { port } = await bare.waitFor('listening');
      await measured(bare, port, { count: 200, offset: 40_000_000, files: sets.loadFiles });
      const label = '50 MB message, bare smtp-server keeping one copy (reference)';
      hostile.push({ ...(await measureOne(bare, port, label, fresh(), bigMessage('x@bench.test'))), big: true, reference: true });
      await stopEngine(bare);
    }
    // The 50 MB cases each get a fresh engine (CRGATE_LMTP_MAX_SIZE raised to 64 MB): RSS once grown
    // is not given back, so a second case in the same process would look cheaper than it is.
    for (const label of ['50 MB message, held (unknown sender)', '50 MB message, delivered (whitelisted sender)']) {
      log(`hostile: fresh engine with CRGATE_LMTP_MAX_SIZE=64 MB; ${label}`);
      const { e, port } = await hostileEnv();
      const sender = label.includes('whitelisted') ? 'w123456@d456.wl.bench.test' : fresh();
      hostile.push({ ...(await measureOne(e, port, label, sender, bigMessage(sender))), big: true });
      await stopEngine(e);
    }
    log('hostile: crafted messages, one engine');
    const hostileProfileDir = profileDir ? join(profileDir, 'hostile') : undefined;
    const { e, port } = await hostileEnv(hostileProfileDir);
    for (const c of HOSTILE_CASES) {
      const sender = fresh();
      const raw = c.build(sender);
      log(`hostile: ${c.name} (${fmt(raw.length / 1048576)} MB)`);
      hostile.push(await measureOne(e, port, c.name, sender, raw));
    }
    results.hostile = hostile;
    results.hostileEngineLifetime = await stopEngine(e);
    if (hostileProfileDir) results.hostileProfile = readProfile(hostileProfileDir);
  }

  // ---- 5. the quarantine listing at 1,000,000 held messages (its own database and web process) -----
  if (!opts.skipQuarantine) {
    results.quarantine = await quarantineBench({ pgAdminUrl: PG_ADMIN_URL, redisUrl: REDIS_URL, quick: opts.quick, log, cleanups });
  }

  results.durationSeconds = (Date.now() - started) / 1000;
  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(report(results) + `\nSaved ${relative(ROOT, file)} (${fmt(results.durationSeconds, 0)} s)\n`);
}

// ---------------------------------------------------------------------------------------------------
// Report

function verdict(ok) {
  return ok ? 'ok' : 'MISSED';
}

function report(r) {
  const out = [];
  const m = r.machine;
  out.push(`crgate bench — crgate ${m.commit ?? '?'}; ${m.cores} × ${m.cpu}, ${m.memoryGb} GB, Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}; machine ${fmt(r.preflightBusyPct ?? 0, 0)}% busy before the start`);
  out.push(
    `workload: ${r.workload.filesSent} corpus messages (mean ${fmt(r.workload.meanBytes / 1024)} KB) cycled; senders ${Math.round(r.workload.mix.whitelisted * 100)}% whitelisted (of ${r.workload.whitelistEntries.toLocaleString('en-US')}), ${Math.round(r.workload.mix.blacklisted * 100)}% blacklisted, ${Math.round(r.workload.mix.unknown * 100)}% unknown; classifier trained on ${r.workload.trained.ham} ham + ${r.workload.trained.spam} spam; ${r.options.connections} LMTP connections${r.options.noClassifier ? '; CLASSIFIER OFF' : ''}${r.options.logging ? '; engine logging at info' : ''}${r.options.profile ? '; ENGINE PROFILED (--cpu-prof): figures are slower than normal' : ''}`,
  );
  out.push('');
  const rows = [['Throughput and latency', 'msg/s', 'p50 ms', 'p99 ms', 'CPU ms/msg', 'peak RSS MB', 'loop lag p99 ms', 'messages']];
  const row = (label, x) => [
    label,
    fmt(x.rate, 0),
    fmt(x.latency.p50, 2),
    fmt(x.latency.p99, 2),
    fmt(x.cpuMsPerMessage, 2),
    fmt(x.server.peakRssMb, 0),
    fmt(x.server.eventLoopDelayMs.p99, 1),
    x.sent.toLocaleString('en-US'),
  ];
  if (r.ceiling) rows.push(row('ceiling: bare smtp-server (LMTP)', r.ceiling));
  if (r.ceilingSmtpSource?.rate) rows.push(['ceiling: same, loaded by smtp-source (4 KB)', fmt(r.ceilingSmtpSource.rate, 0), '-', '-', '-', '-', '-', r.ceilingSmtpSource.sent.toLocaleString('en-US')]);
  rows.push(row('crgate ingest+worker, full load', r.crgate));
  rows.push(row(`crgate, half load (${fmt(r.crgateHalf.targetRate, 0)} msg/s offered)`, r.crgateHalf));
  out.push(table(rows));
  out.push('');
  const mix = (o) => Object.entries(o).filter(([k]) => k !== 'examples').map(([k, v]) => `${k} ${v}`).join(', ');
  out.push(`replies at full load: ${mix(r.crgate.outcomes)}`);
  for (const [kind, o] of Object.entries(r.crgate.byKind)) out.push(`  ${kind} senders: ${mix(o)}`);
  if (r.crgate.outcomes.examples) out.push(`  error replies, e.g.: ${r.crgate.outcomes.examples.slice(0, 2).join(' | ')}`);
  for (const [label, x] of [['full load', r.crgate], ['half load', r.crgateHalf]]) {
    const by = Object.entries(x?.latencyByOutcome ?? {}).sort((a, b) => b[1].n - a[1].n);
    if (by.length) out.push(`latency by reply at ${label}, p50 / p99 ms (messages): ${by.map(([o, l]) => `${o} ${fmt(l.p50, 1)} / ${fmt(l.p99, 1)} (${l.n})`).join(', ')}`);
  }
  out.push(`challenges: ${r.database.challenges} created, ${r.database.challenges_sent} sent, ${r.database.challenges_suppressed} suppressed (rate limits); deliveries to the sink: ${r.sinks.delivered.messages}`);
  const c = r.crgate.server.counters ?? {};
  if (c.pg !== undefined) out.push(`round trips per message at full load (engine, ingest + worker): PostgreSQL ${fmt(c.pg / r.crgate.sent, 1)} queries, Redis ${fmt(c.redis / r.crgate.sent, 1)} commands`);
  const where = (label, x) => {
    const c = x?.machineCpu;
    if (!c) return;
    const b = c.byName;
    const perMsg = (pct) => fmt(((pct ?? 0) / 100) * (x.elapsedMs / x.sent), 2);
    out.push(
      `CPU during ${label}, % of one core (ms/msg): server ${fmt(b.server, 0)}% (${perMsg(b.server)}), PostgreSQL ${fmt(b.postgres ?? 0, 0)}% (${perMsg(b.postgres)}) + shared ${fmt(b['postgres (shared)'] ?? 0, 0)}%, Redis ${fmt(b.redis ?? 0, 0)}%, load generator ${fmt(b.loadgen, 0)}%, bench sinks+DNS ${fmt(b.bench, 0)}%; everything else ${fmt(b['other processes'] ?? 0, 0)}%${(b['other processes'] ?? 0) > 15 ? ' (NOISY: someone else was using the machine)' : ''}; machine ${fmt(c.machineBusyPct, 0)}% busy`,
    );
  };
  if (r.crgate.sql?.length) {
    out.push('PostgreSQL statements at full load, by time waited in the engine (call to result):');
    for (const q of r.crgate.sql.slice(0, 8)) {
      out.push(`  ${fmt(q.count / r.crgate.sent, 2).padStart(5)}/msg  ${fmt(q.totalMs / q.count, 2).padStart(7)} ms avg  ${q.text.slice(0, 90)}`);
    }
  }
  where('ceiling', r.ceiling);
  where('crgate full load', r.crgate);
  where('crgate half load', r.crgateHalf);
  out.push(`engine main thread busy (ELU) at full load: ${fmt(r.crgate.server.eventLoopUtilization * 100, 0)}%; load generator CPU ${fmt(r.crgate.clientCpuMs / r.crgate.sent, 2)} ms/msg`);
  out.push('');

  const goals = [['Goal', 'target', 'measured', '']];
  if (r.ceiling) {
    const ratio = r.crgate.rate / r.ceiling.rate;
    goals.push(['throughput vs ceiling', `≥ ${r.goals.ratio * 100}% (stretch ${r.goals.ratioStretch * 100}%)`, `${fmt(ratio * 100, 1)}%`, ratio >= r.goals.ratioStretch ? 'ok (stretch met)' : verdict(ratio >= r.goals.ratio)]);
  }
  goals.push(['p99 latency at half load', `≤ ${r.goals.halfLoadP99Ms} ms`, `${fmt(r.crgateHalf.latency.p99, 1)} ms`, verdict(r.crgateHalf.latency.p99 <= r.goals.halfLoadP99Ms)]);
  goals.push(['event-loop lag p99, full load', `≤ ${r.goals.loopLagP99Ms} ms`, `${fmt(r.crgate.server.eventLoopDelayMs.p99, 1)} ms`, verdict(r.crgate.server.eventLoopDelayMs.p99 <= r.goals.loopLagP99Ms)]);
  goals.push(['event-loop lag p99, half load', `≤ ${r.goals.loopLagP99Ms} ms`, `${fmt(r.crgateHalf.server.eventLoopDelayMs.p99, 1)} ms`, verdict(r.crgateHalf.server.eventLoopDelayMs.p99 <= r.goals.loopLagP99Ms)]);
  if (r.hostile) {
    for (const h of r.hostile.filter((x) => x.big && !x.reference)) {
      goals.push([`RSS growth: ${h.name}`, `≤ ${r.goals.bigRssMb} MB`, `${fmt(h.rssGrowthMb, 0)} MB`, verdict(h.rssGrowthMb <= r.goals.bigRssMb)]);
    }
  }
  out.push(table(goals));

  if (r.hostile) {
    out.push('');
    const hrows = [['Large and hostile message (sent once)', 'MB', 'CPU ms to reply', 'CPU ms total', 'RSS +MB', 'latency ms', 'loop lag max ms', 'reply', 'CPU ≤ 1 s']];
    for (const h of r.hostile) {
      hrows.push([
        h.name,
        fmt(h.bytes / 1048576, 1),
        fmt(h.cpuMsToReply, 0),
        fmt(h.cpuMsSettled, 0),
        fmt(h.rssGrowthMb, 0),
        fmt(h.latencyMs, 0),
        fmt(h.eventLoopDelayMaxMs, 0),
        h.reply,
        h.big ? '-' : verdict(h.cpuMsSettled <= r.goals.hostileCpuMs),
      ]);
    }
    out.push(table(hrows));
  }
  if (r.quarantine) out.push('', quarantineReport(r.quarantine));
  for (const [label, p] of [['the engine under load', r.profile], ['the engine given the crafted messages', r.hostileProfile]]) {
    if (!p) continue;
    out.push('');
    out.push(`CPU profile of ${label} (${p.file}), ${fmt(p.busyMs / 1000)} s busy; top self time:`);
    const prow = [['function', 'location', 'self ms', 'share']];
    for (const x of p.top.slice(0, 12)) prow.push([x.functionName, x.location, fmt(x.selfMs, 0), `${fmt(x.share * 100, 1)}%`]);
    out.push(table(prow));
    out.push(`by origin: ${p.byOrigin.slice(0, 12).map((x) => `${x.name} ${fmt(x.share * 100, 1)}%`).join(', ')}`);
  }
  return out.join('\n') + '\n';
}

main()
  .then(() => cleanup())
  .then(() => process.exit(0))
  .catch(async (err) => {
    // After Ctrl-C the run fails because its processes were stopped: that is not a crash to report.
    if (!aborting) process.stderr.write(`bench crashed: ${err?.stack ?? err}\n`);
    await cleanup();
    process.exit(aborting ? 130 : 1);
  });
