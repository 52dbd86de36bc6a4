/**
 * Signing in to the recipient's site: a single-use link mailed to the address, or a password for users
 * who set one. No answer tells whether an address is a user: asking for a link always gets the same
 * page (the user is looked up, and the link stored and mailed, after the answer), and a wrong password
 * reads the same as an unknown address.
 * Opening a link (GET) only shows a button, because link scanners follow every GET; the POST signs in.
 */
import { Router, type Request, type Response } from 'express';
import { isAddress, isWellFormedToken, normalizeAddress } from '@crgate/core';
import {
  checkPassword,
  consumeSignInLink,
  createSession,
  createSignInLink,
  deleteSession,
  findUserByAddress,
  signInLinkState,
  SIGN_IN_LINK_TTL_MS,
  takeRateLimit,
} from '@crgate/store';
import { setCookie } from './cookies.js';
import {
  checkPreSessionCsrf,
  checkSessionCsrf,
  clientAddress,
  cookiePath,
  field,
  HOUR_MS,
  page,
  preSessionToken,
  requireUser,
  secureCookies,
  SESSION_COOKIE,
  signedIn,
  type SiteDeps,
} from './site-context.js';
import { sendSignInMail } from './sign-in-mail.js';
import { signValue } from './web-keys.js';
import { startTokenAttempt } from './token-guard.js';


function signInPage(deps: SiteDeps, req: Request, res: Response, status: number, extra: Record<string, unknown> = {}): void {
  res.status(status).send(page(deps, res, 'signin', { title: 'Sign in', csrf: preSessionToken(deps, req, res), ...extra }));
}

function linkUnavailable(deps: SiteDeps, res: Response, why: 'unknown' | 'spent' | 'expired'): void {
  const message =
    why === 'unknown'
      ? 'This sign-in link is not valid.'
      : why === 'spent'
        ? 'This sign-in link was already used. Each link works once: ask for a new one.'
        : 'This sign-in link has expired. Ask for a new one.';
  res.status(why === 'unknown' ? 404 : 410).send(
    page(deps, res, 'error', { title: 'Link no longer valid', heading: 'Sign-in link not valid', message, signInAgain: true }),
  );
}

async function startSession(deps: SiteDeps, res: Response, userId: number, method: 'link' | 'password'): Promise<void> {
  // The browser's previous session ends: its cookie is replaced below, so only a copy of it (a stolen
  // one) could still use it.
  const previous = signedIn(res);
  if (previous) await deleteSession(deps.db, previous.sessionId);
  const hours = deps.config.web.sessionHours;
  const { id } = await createSession(deps.db, userId, deps.now(), hours * HOUR_MS, method);
  setCookie(res, SESSION_COOKIE, signValue(deps.keys().session, id), { path: cookiePath(deps), secure: secureCookies(deps), maxAge: hours * 3600 });
  deps.logger.info({ event: 'web.signed_in', userId, method }, 'recipient signed in');
  res.redirect(303, `${deps.basePath}/q`);
}

/**
 * Counts one sign-in attempt for the address and the client; false when either is over its limit.
 * Links asked for and passwords tried count against the address separately: anybody may ask for an
 * address's links until it is refused, and that must not lock its owner out of the password too.
 */
function withinLimits(deps: SiteDeps, req: Request, address: string, kind: 'link' | 'password'): Promise<boolean> {
  return takeRateLimit(
    deps.db,
    [
      {
        bucket: kind === 'link' ? 'signin-address' : 'signin-password',
        key: normalizeAddress(address),
        limit: deps.config.web.signInPerAddressPerHour,
        windowMs: HOUR_MS,
      },
      { bucket: 'signin-client', key: clientAddress(req), limit: deps.config.web.signInPerClientPerHour, windowMs: HOUR_MS },
    ],
    deps.now(),
  );
}

function tooMany(deps: SiteDeps, req: Request, res: Response): void {
  res.set('Retry-After', '3600');
  signInPage(deps, req, res, 429, { error: 'Too many sign-in attempts for this address or from your network. Try again in an hour.' });
}

function addressField(req: Request): string | undefined {
  const address = field(req, 'address')?.trim();
  return address && address.length <= 320 && isAddress(address) ? address : undefined;
}

export function signInRoutes(deps: SiteDeps): Router {
  const router = Router();
  const log = deps.logger;
  const guard = { db: deps.db, render: deps.render, logger: log, now: deps.now, limit: deps.config.web.badTokensPerClientPerHour };

  router.get('/', (_req, res) => res.redirect(303, `${deps.basePath}${signedIn(res) ? '/q' : '/signin'}`));

  router.get('/signin', (req, res) => {
    if (signedIn(res)) return res.redirect(303, `${deps.basePath}/q`);
    signInPage(deps, req, res, 200);
  });

  /**
   * Everything that depends on whether the address is a user runs after the answer: looking the user
   * up, storing the link (a commit) and mailing it. Done before, storing the link alone made a user's
   * answer measurably slower than a stranger's (about 2.5 ms on a quiet machine), which told the two apart.
   */
  async function mailLinkIfUser(address: string, now: Date): Promise<void> {
    let userId: number | undefined;
    try {
      const user = await findUserByAddress(deps.db, address);
      if (!user) return;
      userId = user.id;
      const token = await createSignInLink(deps.db, user.id, now);
      await sendSignInMail(deps.config, user.address, `${deps.config.publicUrl}/signin/${token}`, now, SIGN_IN_LINK_TTL_MS / 60_000);
      log.info({ event: 'web.signin_mail_sent', userId }, 'sign-in link mailed');
    } catch (err) {
      log.warn({ event: 'web.signin_mail_failed', userId, err: (err as Error).message }, 'sign-in link could not be mailed');
    }
  }

  router.post('/signin/link', async (req, res) => {
    if (!checkPreSessionCsrf(deps, req, res)) return;
    const address = addressField(req);
    if (!address) return signInPage(deps, req, res, 400, { error: 'Enter a mail address, such as alice@example.org.', address: field(req, 'address') });
    if (!(await withinLimits(deps, req, address, 'link'))) return tooMany(deps, req, res);
    const now = deps.now();
    res.send(page(deps, res, 'signin-sent', { title: 'Check your mail', address, minutes: SIGN_IN_LINK_TTL_MS / 60_000 }));
    setImmediate(() => void mailLinkIfUser(address, now));
  });

  router.post('/signin/password', async (req, res) => {
    if (!checkPreSessionCsrf(deps, req, res)) return;
    const address = addressField(req);
    const password = field(req, 'password') ?? '';
    if (!address || !password) {
      return signInPage(deps, req, res, 400, { passwordError: 'Enter your address and your password.', passwordAddress: field(req, 'address') });
    }
    if (!(await withinLimits(deps, req, address, 'password'))) return tooMany(deps, req, res);
    const userId = await checkPassword(deps.db, address, password);
    if (userId === undefined) {
      log.info({ event: 'web.signin_refused', reason: 'password' }, 'wrong address or password');
      return signInPage(deps, req, res, 401, { passwordError: 'That address and password do not match.', passwordAddress: address });
    }
    await startSession(deps, res, userId, 'password');
  });

  // The sign-in forms post to these, so after a refused attempt the address bar shows them, and going
  // there again (history, the address bar's completion) GETs them. They are no link tokens: answered as
  // one, they read "Sign-in link not valid" and counted against the client as guessed links.
  router.get(['/signin/link', '/signin/password'], (_req, res) => res.redirect(303, `${deps.basePath}/signin`));

  router.get('/signin/:token', async (req: Request<{ token: string }>, res) => {
    const { token } = req.params;
    const attempt = await startTokenAttempt(guard, req, res, 'signin');
    if (!attempt) return;
    const state = isWellFormedToken(token) ? await signInLinkState(deps.db, token, deps.now()) : 'unknown';
    if (state === 'unknown') attempt.unknown();
    else await attempt.known();
    if (state !== 'valid') return linkUnavailable(deps, res, state);
    res.send(page(deps, res, 'signin-link', { title: 'Sign in', token, csrf: preSessionToken(deps, req, res) }));
  });

  router.post('/signin/:token', async (req: Request<{ token: string }>, res) => {
    if (!checkPreSessionCsrf(deps, req, res)) return;
    const attempt = await startTokenAttempt(guard, req, res, 'signin');
    if (!attempt) return;
    const result = await consumeSignInLink(deps.db, req.params.token, deps.now());
    if (!result.ok && result.why === 'unknown') attempt.unknown();
    else await attempt.known();
    if (!result.ok) return linkUnavailable(deps, res, result.why);
    await startSession(deps, res, result.userId, 'link');
  });

  router.post('/signout', requireUser(deps), async (req, res) => {
    if (!checkSessionCsrf(deps, req, res)) return;
    const s = signedIn(res)!;
    await deleteSession(deps.db, s.sessionId);
    setCookie(res, SESSION_COOKIE, '', { path: cookiePath(deps), secure: secureCookies(deps), maxAge: 0 });
    log.info({ event: 'web.signed_out', userId: s.session.userId }, 'recipient signed out');
    res.redirect(303, `${deps.basePath}/signin`);
  });

  return router;
}
