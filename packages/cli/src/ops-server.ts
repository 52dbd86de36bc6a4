/**
 * The operations endpoint of one crgate process: /metrics (Prometheus), /healthz (the process is up)
 * and /readyz (it can do its work: PostgreSQL answers and takes writes, and each role it runs says it
 * is ready).
 * Separate from the web site, so a process running only the ingest or the worker has one too, and so
 * it can listen on a private address.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@crgate/core';
import { withinMs, type Db, type Metrics } from '@crgate/store';

export type ReadinessCheck = () => Promise<string | null>;

/**
 * How long /readyz waits for each check: a PostgreSQL or Redis that accepts connections but does not
 * answer is not ready, and a load balancer or an orchestrator's probe should hear so, not time out.
 */
export const READINESS_CHECK_MS = 2_000;

export interface OpsServer {
  address: AddressInfo;
  stop(): Promise<void>;
}

export async function startOpsServer(
  listen: { host: string; port: number },
  deps: { db: Db; metrics: Metrics; checks: Record<string, ReadinessCheck>; logger: Logger },
): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    // HEAD too: some load balancers and uptime checkers probe with it (Node leaves out the body).
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET or HEAD only\n');
    if (path === '/healthz') return send(200, '{"status":"ok"}\n', 'application/json');
    if (path === '/metrics') {
      deps.metrics.render().then(
        (text) => send(200, text, deps.metrics.registry.contentType),
        (err: Error) => send(500, `metrics failed: ${err.message}\n`),
      );
      return;
    }
    if (path === '/readyz') {
      const checks: Record<string, ReadinessCheck> = {
        // Answering is not enough: every role writes, and a read-only server (a standby after a
        // failover, default_transaction_read_only) makes the ingest answer 451 to every held message.
        postgres: async () => {
          const { rows } = await deps.db.query<{ ro: string }>(`SELECT current_setting('transaction_read_only') AS ro`);
          return rows[0]?.ro === 'on' ? 'read-only' : null;
        },
        ...deps.checks,
      };
      Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          try {
            return [name, (await withinMs(check(), READINESS_CHECK_MS)) ?? 'ok'] as const;
          } catch (err) {
            return [name, (err as Error).message || 'failed'] as const;
          }
        }),
      ).then((results) => {
        const ready = results.every(([, r]) => r === 'ok');
        send(ready ? 200 : 503, `${JSON.stringify({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) })}\n`, 'application/json');
      });
      return;
    }
    send(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    // Say which listener: the same process also opens the LMTP and web ports.
    server.once('error', (err) => reject(new Error(`ops endpoint (CRGATE_OPS_LISTEN): ${err.message}`, { cause: err })));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  deps.logger.info({ event: 'ops.listening', address: address.address, port: address.port }, `metrics and health on http://${address.address}:${address.port}`);
  return {
    address,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
