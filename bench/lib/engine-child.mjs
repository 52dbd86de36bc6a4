/**
 * crgate in its own process, started through the same library entry the `crgate` command uses:
 * startEngine(loadConfig(env), roles, logger). Told { type: 'start', env, roles, logging } over IPC,
 * it answers { type: 'started' } and then serves stats (lib/proc-stats.mjs) until { type: 'stop' }.
 */
import { loadConfig, silentLogger } from '@crgate/core';
import { createLogger, startEngine } from '@crgate/cli';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createProcStats, serveStatsOverIpc } from './proc-stats.mjs';

// Observation only: count the round trips crgate makes (the same module instances crgate loads).
const calls = { pg: 0, redis: 0 };
// Per statement: how often and how long from the call to the result (round trip plus PostgreSQL's
// work plus waiting for this process's event loop to read the answer).
let statements = new Map();
const statementKey = (q) => String(typeof q === 'string' ? q : (q?.text ?? q?.name ?? '?')).replace(/\s+/g, ' ').trim().slice(0, 90);
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) {
  calls.pg++;
  const key = statementKey(args[0]);
  const t0 = performance.now();
  const done = () => {
    const s = statements.get(key) ?? { count: 0, totalMs: 0 };
    s.count++;
    s.totalMs += performance.now() - t0;
    statements.set(key, s);
  };
  const last = args.length - 1;
  if (typeof args[last] === 'function') {
    const cb = args[last];
    args[last] = function (...r) {
      done();
      return cb.apply(this, r);
    };
    return pgQuery.apply(this, args);
  }
  const result = pgQuery.apply(this, args);
  if (result && typeof result.then === 'function') result.then(done, done);
  return result;
};
const redisSend = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (...args) {
  calls.redis++;
  return redisSend.apply(this, args);
};

const stats = createProcStats({ counters: () => ({ ...calls }) });
let engine;
let stopping;

async function stop() {
  stopping ??= (async () => {
    const s = stats.read();
    if (engine) await engine.stop();
    return s;
  })();
  return stopping;
}

serveStatsOverIpc(stats, {
  stop: async () => {
    const s = await stop();
    setTimeout(() => process.exit(0), 20);
    return s;
  },
  sql: async (m) => {
    const out = [...statements].map(([text, v]) => ({ text, ...v })).sort((a, b) => b.totalMs - a.totalMs);
    if (m.reset) statements = new Map();
    return out;
  },
  gc: async () => {
    global.gc?.();
    return { rssMb: process.memoryUsage.rss() / 1048576 };
  },
});

process.on('message', (m) => {
  if (m?.type !== 'start') return;
  // With logging on, the JSON log goes to this process's stdout, which the bench sends to /dev/null:
  // the cost of formatting and writing it is counted, the lines are not kept.
  const logger = m.logging ? createLogger('info') : silentLogger;
  startEngine(loadConfig(m.env), m.roles, logger).then(
    (e) => {
      engine = e;
      stats.reset();
      process.send({ type: 'started' });
    },
    (err) => {
      process.send({ type: 'failed', error: String(err?.stack ?? err) }, () => process.exit(1));
    },
  );
});

// The bench went away: stop cleanly so the database can be dropped.
process.on('disconnect', () => {
  stop().finally(() => process.exit(0));
});
