/**
 * The web role: an Express app on CRGATE_WEB_LISTEN. It needs PostgreSQL only; releases it decides are
 * written to the outbox and carried out by the worker.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config, Logger } from '@crgate/core';
import type { Db } from '@crgate/store';
import { challengeRoutes } from './challenge-routes.js';
import { createRenderer } from './templates.js';

export interface WebDeps {
  db: Db;
  logger: Logger;
  now?: () => Date;
}

export interface WebRole {
  app: express.Express;
  start(): Promise<AddressInfo>;
  stop(): Promise<void>;
}

export function createWeb(config: Config, deps: WebDeps): WebRole {
  const log = deps.logger.child({ component: 'web' });
  const render = createRenderer(config.web.viewsDir);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.web.trustProxy);
  app.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'X-Content-Type-Options': 'nosniff',
      // Challenge links carry a token in the path: never leak it in a Referer.
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
    next();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // A public URL with a path (https://example.org/crgate) is served under that path.
  const basePath = new URL(config.publicUrl).pathname.replace(/\/+$/, '');
  app.use(basePath || '/', challengeRoutes({ db: deps.db, basePath, render, logger: log, now: deps.now ?? (() => new Date()) }));
  app.use((_req, res) => {
    res.status(404).send(render('error', { title: 'Not found', heading: 'Not found', message: 'There is no page here.' }));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    log.error({ event: 'web.error', path: req.path, err }, 'request failed');
    res
      .status(503)
      .send(render('error', { title: 'Try again later', heading: 'Temporary problem', message: 'Something went wrong on our side. Please try again in a few minutes.' }));
  });

  let server: Server | undefined;
  return {
    app,
    start: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        server = app.listen(config.web.listen.port, config.web.listen.host);
        server.once('error', reject);
        server.once('listening', () => {
          const addr = server!.address() as AddressInfo;
          log.info({ event: 'web.listening', address: addr.address, port: addr.port }, `web site listening on http://${addr.address}:${addr.port}`);
          resolve(addr);
        });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
