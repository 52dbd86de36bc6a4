/**
 * Runs the roles a process was asked for (ingest, worker, web, or all of them) on one database pool
 * and one logger, and stops them in order on SIGTERM/SIGINT: the ingest stops accepting and finishes
 * what is in flight, then the web site, then the worker.
 */
import type { Config, Logger } from '@crgate/core';
import { Metrics, openDatabase, outboxDepth, resolveSecret, type Db } from '@crgate/store';
import { startOpsServer, type OpsServer, type ReadinessCheck } from './ops-server.js';
import { redactUrl } from './cli-helpers.js';
import { createIngest } from '@crgate/ingest';
import { createWorker } from '@crgate/worker';
import { createWeb, deriveWebSecret } from '@crgate/web';

export const ROLES = ['ingest', 'worker', 'web'] as const;
export type Role = (typeof ROLES)[number];

export function parseRoles(value: string): Role[] {
  const parts = value.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
  if (parts.length === 0 || parts.includes('all')) return [...ROLES];
  for (const p of parts) {
    if (!(ROLES as readonly string[]).includes(p)) throw new Error(`unknown role "${p}": expected ${ROLES.join(', ')} or all`);
  }
  return [...new Set(parts)] as Role[];
}

export interface Engine {
  db: Db;
  metrics: Metrics;
  /** The operations endpoint, unless ops.listen is "off". */
  ops?: OpsServer;
  stop(): Promise<void>;
}

export async function startEngine(config: Config, roles: Role[], logger: Logger): Promise<Engine> {
  // pg's own "connect ECONNREFUSED 127.0.0.1:5432" names neither PostgreSQL nor the setting to check.
  const db = await openDatabase(config.databaseUrl, logger, { max: config.databasePoolSize }).catch((err: unknown) => {
    throw new Error(`cannot use PostgreSQL at ${redactUrl(config.databaseUrl)} (DATABASE_URL): ${(err as Error).message}`, { cause: err });
  });
  // Only the ingest (creates challenges) and the worker (sends them) hold the token secret; the web role
  // gets a key derived from it, which can sign its sessions but cannot build a challenge link.
  const secret = await resolveSecret(db, config.secret, logger);
  const stops: Array<() => Promise<void>> = [];
  const metrics = new Metrics({ processMetrics: true });
  // Read from PostgreSQL by every role, not only the worker: with the roles in separate processes the
  // backlog must show where the worker is missing.
  metrics.onScrape(async () => metrics.outboxRows.set(await outboxDepth(db)));
  const checks: Record<string, ReadinessCheck> = {};
  let ops: OpsServer | undefined;
  try {
    // The ops port first: taken (or not allowed), the process fails before any role has accepted mail
    // or run a job; and a probe meanwhile hears 'starting' rather than nothing.
    if (config.ops.listen !== 'off') {
      checks.starting = async () => 'starting';
      const server = await startOpsServer(config.ops.listen, { db, metrics, checks, logger });
      ops = server;
      // Stopped last: health stays observable while the roles wind down.
      stops.push(() => server.stop());
    }
    // Start the consumers first, so an ingest that accepts mail always has a worker behind it in 'all' mode.
    if (roles.includes('worker')) {
      const worker = createWorker(config, { db, logger, secret, metrics });
      await worker.start();
      stops.unshift(() => worker.stop());
      checks.worker = worker.ready;
    }
    if (roles.includes('web')) {
      const web = createWeb(config, { db, logger, sessionSecret: deriveWebSecret(secret), metrics });
      await web.start();
      stops.unshift(() => web.stop());
      checks.web = web.ready;
    }
    if (roles.includes('ingest')) {
      const ingest = createIngest(config, { db, logger, secret, metrics });
      await ingest.start();
      stops.unshift(() => ingest.stop());
      checks.ingest = ingest.ready;
    }
    delete checks.starting;
  } catch (err) {
    for (const stop of stops) await stop().catch(() => undefined);
    await db.end();
    throw err;
  }
  logger.info({ event: 'engine.started', roles }, `crgate started: ${roles.join(', ')}`);
  return {
    db,
    metrics,
    ops,
    async stop() {
      for (const stop of stops) await stop();
      await db.end();
      logger.info({ event: 'engine.stopped' }, 'crgate stopped');
    },
  };
}
