/**
 * The web role: an Express app on CRGATE_WEB_LISTEN, with the senders' confirmation pages (/c/...) and
 * the recipients' site (sign-in, held mail, lists, settings). It needs PostgreSQL, and the mail target
 * of sign-in links (CRGATE_DELIVER_TO, or the relay); releases it decides are written to the outbox and
 * carried out by the worker.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config, Logger } from '@crgate/core';
import { resolveSecret, type Db, type Metrics } from '@crgate/store';
import { challengeRoutes, isSenderPath, sendSenderError, TROUBLE_PAGE } from './challenge-routes.js';
import { digestRoutes } from './digest-routes.js';
import { createRenderer } from './templates.js';
import { checkOrigin, loadSession, type SiteDeps } from './site-context.js';
import { signInRoutes } from './sign-in-routes.js';
import { quarantineRoutes } from './quarantine-routes.js';
import { listsRoutes } from './lists-routes.js';
import { settingsRoutes } from './settings-routes.js';
import { overviewRoutes } from './overview-routes.js';
import { deriveWebKeys, deriveWebSecret, type WebKeys } from './web-keys.js';

export interface WebDeps {
  db: Db;
  logger: Logger;
  now?: () => Date;
  /**
   * The secret the site's session and CSRF keys are derived from: ideally `deriveWebSecret(secret)`,
   * so this role never holds the token secret. Unset or empty: derived at start from CRGATE_SECRET or
   * the secret stored in the database.
   */
  sessionSecret?: string;
  /** Counts confirmations (crgate_challenges_total{outcome="confirmed"}). */
  metrics?: Metrics;
}

export interface WebRole {
  app: express.Express;
  start(): Promise<AddressInfo>;
  stop(): Promise<void>;
  /** null while the site takes requests; 'stopping' from the stop on, while requests in flight finish. */
  ready(): Promise<string | null>;
}

/** A path with every segment that could be a secret (a long run of token characters) replaced by `…`. */
export function withoutTokens(path: string): string {
  return path.replace(/[A-Za-z0-9_.-]{20,}/g, '…');
}

export function createWeb(config: Config, deps: WebDeps): WebRole {
  const log = deps.logger.child({ component: 'web' });
  const render = createRenderer(config.web.viewsDir);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.web.trustProxy);
  app.use((req, res, next) => {
    // Over HTTPS (directly, or behind a trusted proxy that says so): browsers that saw the site once go
    // on using HTTPS, so a link opened later on a hostile network is not first sent in the clear.
    // Browsers ignore the field over plain HTTP (RFC 6797 8.1), so it is sent only when it counts.
    if (req.secure) res.set('Strict-Transport-Security', 'max-age=31536000');
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
  const now = deps.now ?? (() => new Date());
  app.use(
    basePath || '/',
    challengeRoutes({
      db: deps.db,
      basePath,
      render,
      logger: deps.logger,
      now,
      metrics: deps.metrics,
      badTokensPerClientPerHour: config.web.badTokensPerClientPerHour,
    }),
  );

  let keys: WebKeys | undefined;
  let webSecret: string | undefined;
  app.use(
    basePath || '/',
    digestRoutes({
      db: deps.db,
      basePath,
      render,
      logger: deps.logger.child({ component: 'web.site' }),
      now,
      webSecret: () => {
        if (!webSecret) throw new Error('the web role has not started: no key yet');
        return webSecret;
      },
    }),
  );
  const site: SiteDeps = {
    db: deps.db,
    config,
    basePath,
    render,
    logger: deps.logger.child({ component: 'web.site' }),
    now,
    keys: () => {
      if (!keys) throw new Error('the web role has not started: no session key yet');
      return keys;
    },
  };
  const siteRouter = express.Router();
  siteRouter.use(express.urlencoded({ extended: false, limit: '100kb', parameterLimit: 2000 }));
  siteRouter.use(checkOrigin(site));
  siteRouter.use(loadSession(site));
  siteRouter.use(signInRoutes(site), quarantineRoutes(site), listsRoutes(site), settingsRoutes(site), overviewRoutes(site));
  app.use(basePath || '/', siteRouter);
  app.use((req, res) => {
    if (isSenderPath(req, basePath)) return sendSenderError(req, res, render, 404);
    res.status(404).send(render('error', { title: 'Not found', heading: 'Not found', message: 'There is no page here.' }));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // A request the body parser refused (too large, malformed) is the client's problem, not ours.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // On a sender's page that is a link that cannot be read (`/c/%ZZ`), not a form.
      if (isSenderPath(req, basePath)) return sendSenderError(req, res, render, status);
      res.status(status).send(render('error', { title: 'Bad request', heading: 'Bad request', message: 'The form could not be read.' }));
      return;
    }
    // The path may carry a link's token (/c/<token>, /signin/<token>, /d/<…>): logged without it.
    log.error({ event: 'web.error', path: withoutTokens(req.path), err }, 'request failed');
    if (isSenderPath(req, basePath)) return sendSenderError(req, res, render, 503);
    res.status(503).send(render('error', TROUBLE_PAGE.en));
  });

  let server: Server | undefined;
  let stopping = false;
  return {
    app,
    start: async () => {
      webSecret = deps.sessionSecret || deriveWebSecret(await resolveSecret(deps.db, config.secret, log));
      keys = deriveWebKeys(webSecret);
      return new Promise<AddressInfo>((resolve, reject) => {
        // A client that trickles its request holds a socket: Node's defaults let it for 60 s (headers)
        // and 300 s (whole request). Every page here is small; the CSV upload is at most 1 MB. Node
        // looks for overdue requests only every connectionsCheckingInterval (30 s by default, fixed
        // when the server is made), which would stretch 15 s to 45 s.
        server = createServer({ headersTimeout: 15_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }, app);
        server.listen(config.web.listen.port, config.web.listen.host);
        server.once('error', reject);
        server.once('listening', () => {
          const addr = server!.address() as AddressInfo;
          log.info({ event: 'web.listening', address: addr.address, port: addr.port }, `web site listening on http://${addr.address}:${addr.port}`);
          resolve(addr);
        });
      });
    },
    ready: async () => (stopping ? 'stopping' : server?.listening ? null : 'not listening'),
    stop: () =>
      new Promise<void>((resolve) => {
        // Said at once: a request still in flight (up to requestTimeout) holds the close, and a load
        // balancer asking /readyz meanwhile must stop sending clients to a port that no longer accepts.
        stopping = true;
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
