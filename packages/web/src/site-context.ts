/**
 * What the recipient's pages share: their dependencies, the signed-in session (if any) read from the
 * signed cookie, the CSRF checks, and rendering with the navigation of a signed-in user.
 *
 * CSRF: every form of a signed-in user carries the session's synchronizer token (`_csrf`); the sign-in
 * forms, which have no session yet, carry an HMAC of a random pre-session cookie (a signed double
 * submit). A POST without the right token is refused with 403. The cookies are SameSite=Lax, and a POST
 * whose Origin header names another site is refused too.
 */
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Config, Logger } from '@crgate/core';
import { findSession, type Db, type WebSession } from '@crgate/store';
import { readCookie, setCookie } from './cookies.js';
import type { Render } from './templates.js';
import { mac, sameString, verifySigned, type WebKeys } from './web-keys.js';
import { isIP } from 'node:net';

export const SESSION_COOKIE = 'crgate_session';
export const PRE_COOKIE = 'crgate_pre';

export interface SiteDeps {
  db: Db;
  config: Config;
  /** Path of CRGATE_PUBLIC_URL ('' at the root). */
  basePath: string;
  render: Render;
  logger: Logger;
  now: () => Date;
  /** The site's keys; known once the role has started. */
  keys: () => WebKeys;
}

export interface SignedIn {
  session: WebSession;
  /** The id from the cookie (never stored), to end the session. */
  sessionId: string;
}

export function cookiePath(deps: SiteDeps): string {
  return deps.basePath || '/';
}

export function secureCookies(deps: SiteDeps): boolean {
  return deps.config.publicUrl.startsWith('https:');
}

export function signedIn(res: Response): SignedIn | undefined {
  return res.locals.signedIn as SignedIn | undefined;
}

/** Reads the session cookie: a bad signature costs no database query. */
export function loadSession(deps: SiteDeps) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const id = verifySigned(deps.keys().session, readCookie(req, SESSION_COOKIE));
    if (id) {
      const session = await findSession(deps.db, id, deps.now());
      if (session) res.locals.signedIn = { session, sessionId: id } satisfies SignedIn;
    }
    next();
  };
}

/**
 * Refuses a state-changing request that a browser marks as coming from another site (defence in depth
 * besides the token). Our pages send `Referrer-Policy: no-referrer`, under which browsers send
 * `Origin: null` even for our own forms, so `null` proves nothing either way; Sec-Fetch-Site does.
 */
export function checkOrigin(deps: SiteDeps) {
  const publicOrigin = new URL(deps.config.publicUrl).origin;
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const site = req.get('sec-fetch-site');
    const origin = req.get('origin');
    const foreignSite = site === 'cross-site' || site === 'same-site';
    const foreignOrigin = origin && origin !== 'null' && origin !== publicOrigin && origin !== `${req.protocol}://${req.get('host')}`;
    if (foreignSite || foreignOrigin) return forbidden(deps, res);
    next();
  };
}

export function forbidden(deps: SiteDeps, res: Response): void {
  res.status(403).send(
    deps.render('error', {
      title: 'Not allowed',
      heading: 'Not allowed',
      message: 'This form has expired or did not come from this site. Go back, reload the page and try again.',
    }),
  );
}

/** Pages of a signed-in user: a visitor without a session is sent to sign in (GET) or refused. */
export function requireUser(deps: SiteDeps) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (signedIn(res)) return next();
    if (req.method === 'GET' || req.method === 'HEAD') return res.redirect(303, `${deps.basePath}/signin`);
    forbidden(deps, res);
  };
}

function formField(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}

/** The synchronizer token check of a signed-in user's form; answers 403 itself and returns false. */
export function checkSessionCsrf(deps: SiteDeps, req: Request, res: Response, token = formField(req, '_csrf')): boolean {
  const s = signedIn(res);
  if (s && token && sameString(token, s.session.csrfToken)) return true;
  forbidden(deps, res);
  return false;
}

/** The CSRF token of a visitor not signed in, setting their pre-session cookie when they have none. */
export function preSessionToken(deps: SiteDeps, req: Request, res: Response): string {
  let pre = readCookie(req, PRE_COOKIE);
  if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
    pre = randomBytes(32).toString('base64url');
    setCookie(res, PRE_COOKIE, pre, { path: cookiePath(deps), secure: secureCookies(deps) });
  }
  return mac(deps.keys().csrf, pre);
}

export function checkPreSessionCsrf(deps: SiteDeps, req: Request, res: Response): boolean {
  const pre = readCookie(req, PRE_COOKIE);
  const token = formField(req, '_csrf');
  if (pre && token && /^[A-Za-z0-9_-]{43}$/.test(pre) && sameString(token, mac(deps.keys().csrf, pre))) return true;
  forbidden(deps, res);
  return false;
}

/** Renders a page; a signed-in user's pages get the navigation (with the sign-out form's token). */
export function page(deps: SiteDeps, res: Response, view: string, ctx: Record<string, unknown>): string {
  const s = signedIn(res);
  return deps.render(view, {
    base: deps.basePath,
    ...(s ? { nav: { address: s.session.address, csrf: s.session.csrfToken, isAdmin: s.session.isAdmin, [String(ctx.section ?? '')]: true } } : {}),
    ...ctx,
  });
}

/** The window of every per-client and per-address limit of the site. */
export const HOUR_MS = 3_600_000;

/**
 * The client's address for the per-client limits: Express's req.ip (from X-Forwarded-For behind a
 * trusted proxy), but only when it is an IP address: a proxy passes on whatever the client wrote
 * there, and a key of any text (6,000 letters) would fail the limits' index and every request with it.
 * Some proxies (Azure Application Gateway) append `address:port` or `[v6]:port`: that counts by its
 * address, not as the proxy, or every client would share the proxy's count and one guesser would block
 * everyone's links.
 */
export function clientAddress(req: Request): string {
  const ip = withoutPort(req.ip);
  return ip && isIP(ip) ? ip : (req.socket.remoteAddress ?? 'unknown');
}

function withoutPort(value: string | undefined): string | undefined {
  if (!value) return value;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(value);
  if (v4) return v4[1];
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(value);
  return v6 ? v6[1] : value;
}

export function field(req: Request, name: string): string | undefined {
  return formField(req, name);
}

/** A form field that may be repeated (checkboxes): always a list of strings. */
export function fieldList(req: Request, name: string): string[] {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function query(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' ? v : undefined;
}

export function formatDate(d: Date | null | undefined): string {
  if (!d || Number.isNaN(d.getTime())) return '';
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
