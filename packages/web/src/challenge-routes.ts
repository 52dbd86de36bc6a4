/**
 * The sender's side of a challenge. GET only shows the page: link scanners and prefetchers follow every
 * GET, so only the POST from the page confirms, releases and whitelists.
 */
import { Router, type Request, type Response } from 'express';
import { isWellFormedToken, sanitizeSubject, type Logger } from '@crgate/core';
import { challengeUnavailable, confirmChallenge, findChallengeByToken, setSenderOptOut, type Challenge, type Db, type Metrics } from '@crgate/store';
import type { Render } from './templates.js';
import { browserLanguage, startTokenAttempt, type PageLanguage, type TokenAttempt } from './token-guard.js';

export interface ChallengeRouteDeps {
  db: Db;
  metrics?: Metrics;
  /** Path of CRGATE_PUBLIC_URL ('' at the root), for links and form actions. */
  basePath: string;
  render: Render;
  logger: Logger;
  now: () => Date;
  /** web.badTokensPerClientPerHour: unknown tokens a client may try before it gets 429. */
  badTokensPerClientPerHour: number;
}

/** The texts of a link that no longer works, in the languages challenges are written in. */
const UNAVAILABLE: Record<PageLanguage, { heading: string; spent: string; expired: string; unknownHeading: string; unknown: string }> = {
  en: {
    heading: 'Link no longer valid',
    spent: 'This confirmation link was already used: your messages were delivered.',
    expired: 'This confirmation link has expired.',
    unknownHeading: 'Link not found',
    unknown: 'This confirmation link is not valid.',
  },
  de: {
    heading: 'Link nicht mehr gültig',
    spent: 'Dieser Bestätigungslink wurde bereits verwendet: Ihre Nachrichten wurden zugestellt.',
    expired: 'Dieser Bestätigungslink ist abgelaufen.',
    unknownHeading: 'Link nicht gefunden',
    unknown: 'Dieser Bestätigungslink ist nicht gültig.',
  },
};

/** The page of a failure on our side, in the languages of the sender's pages (the rest of the site uses `en`). */
export const TROUBLE_PAGE: Record<PageLanguage, { title: string; heading: string; message: string }> = {
  en: { title: 'Try again later', heading: 'Temporary problem', message: 'Something went wrong on our side. Please try again in a few minutes.' },
  de: {
    title: 'Bitte später noch einmal',
    heading: 'Vorübergehendes Problem',
    message: 'Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es in ein paar Minuten noch einmal.',
  },
};

/** Whether a request is for a sender's page (`/c/…` under the site's path), which speaks the sender's language. */
export function isSenderPath(req: Request, basePath: string): boolean {
  // Case-insensitive, as Express routes (`/C/<token>` opens the sender's page): `/C/` must not fall back
  // to the site's English page while `/c/` answers in the sender's language.
  const path = req.path.toLowerCase();
  const base = basePath.toLowerCase();
  return path === `${base}/c` || path.startsWith(`${base}/c/`);
}

/**
 * What the site answers on a sender's page when no route took the request (`/c/`, `/c/TOKEN/more`),
 * the link could not be read (`/c/%ZZ`), or something failed on our side: the sender's language
 * from the browser, since no challenge was read. Not counted as a guess: nothing was looked up.
 */
export function sendSenderError(req: Request, res: Response, render: Render, status: number): void {
  const lang = browserLanguage(req);
  if (status >= 500) {
    res.status(status).send(render('error', { ...TROUBLE_PAGE[lang], lang }));
    return;
  }
  const text = UNAVAILABLE[lang];
  res.status(status).send(render('error', { title: text.unknownHeading, heading: text.unknownHeading, message: text.unknown, lang }));
}

/** "1 message", "3 Nachrichten". */
function messageCount(n: number, language: PageLanguage): string {
  const one = new Intl.PluralRules(language).select(n) === 'one';
  if (language === 'de') return `${n} ${one ? 'Nachricht' : 'Nachrichten'}`;
  return `${n} ${one ? 'message' : 'messages'}`;
}

/**
 * The original subject as the page shows it: on one line, and no longer than the challenge mail shows
 * it (60 characters), with "…" when cut. A 3,000-character subject made the page 4,600 px tall with the
 * button at the bottom, and showed a forged sender's whole text where the mail carries 60 characters.
 */
function pageSubject(subject: string | null): string {
  const whole = sanitizeSubject(subject ?? undefined, Infinity);
  const cut = sanitizeSubject(whole);
  return cut === whole ? whole : `${cut}…`;
}

/** The message's date in the page's language, in UTC: "23 Nov 2026, 10:00 UTC", "23.11.2026, 10:00 UTC". */
function pageDate(date: Date, language: string): string {
  const locale = language === 'de' ? 'de-DE' : 'en-GB';
  return `${new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(date)} UTC`;
}

/**
 * The page of a link that cannot be used. A spent or expired link names a challenge, so its page is
 * in the challenge's language, like the page the link showed before; an unknown one names nothing, so
 * it is in the language the browser asks for (of those challenges are written in).
 */
function sendUnavailable(req: Request, res: Response, render: Render, why: 'unknown' | 'spent' | 'expired', language?: PageLanguage): void {
  const lang = why === 'unknown' || !language ? browserLanguage(req) : language;
  const text = UNAVAILABLE[lang];
  if (why === 'unknown') {
    res.status(404).send(render('error', { title: text.unknownHeading, heading: text.unknownHeading, message: text.unknown, lang }));
    return;
  }
  res.status(410).send(render('error', { title: text.heading, heading: text.heading, message: text[why], lang }));
}

export function challengeRoutes(deps: ChallengeRouteDeps): Router {
  const router = Router();
  const log = deps.logger.child({ component: 'web.challenge' });
  const guard = { db: deps.db, render: deps.render, logger: log, now: deps.now, limit: deps.badTokensPerClientPerHour };

  /** Counts an unknown token against the client, gives the slot back for one that exists. */
  async function settle(attempt: TokenAttempt, why: 'unknown' | 'spent' | 'expired' | null): Promise<void> {
    if (why === 'unknown') attempt.unknown();
    else await attempt.known();
  }

  /**
   * The challenge a link names, when it can still be answered; otherwise the reply (429, 404 or 410)
   * has been sent and the attempt counted against the client.
   */
  async function openChallenge(req: Request<{ token: string }>, res: Response): Promise<Challenge | undefined> {
    const { token } = req.params;
    const attempt = await startTokenAttempt(guard, req, res, 'challenge', browserLanguage(req));
    if (!attempt) return undefined;
    const challenge = isWellFormedToken(token) ? await findChallengeByToken(deps.db, token) : undefined;
    const why = challengeUnavailable(challenge, deps.now());
    await settle(attempt, why);
    if (why || !challenge) {
      sendUnavailable(req, res, deps.render, why ?? 'unknown', challenge?.language);
      return undefined;
    }
    return challenge;
  }

  router.get('/c/:token', async (req: Request<{ token: string }>, res) => {
    const challenge = await openChallenge(req, res);
    if (!challenge) return;
    const { token } = req.params;
    res.send(
      deps.render('confirm', {
        title: challenge.language === 'de' ? 'Bestätigen Sie Ihre Nachricht' : 'Confirm your message',
        lang: challenge.language,
        base: deps.basePath,
        token,
        recipient: challenge.recipient,
        sender: challenge.sender,
        subject: pageSubject(challenge.originalSubject),
        date: pageDate(challenge.originalDate ?? challenge.createdAt, challenge.language),
        held: messageCount(challenge.heldCount, challenge.language),
      }),
    );
  });

  router.post('/c/:token', async (req: Request<{ token: string }>, res) => {
    const attempt = await startTokenAttempt(guard, req, res, 'challenge', browserLanguage(req));
    if (!attempt) return;
    const result = await confirmChallenge(deps.db, req.params.token, deps.now());
    await settle(attempt, result.ok ? null : result.why);
    if (!result.ok) return sendUnavailable(req, res, deps.render, result.why, result.language);
    deps.metrics?.challenges.inc({ outcome: 'confirmed', reason: '' });
    log.info(
      { event: 'challenge.confirmed', challengeId: result.challenge.id, released: result.released.length },
      'challenge confirmed',
    );
    res.send(
      deps.render('confirmed', {
        title: result.challenge.language === 'de' ? 'Vielen Dank' : 'Thank you',
        lang: result.challenge.language,
        recipient: result.challenge.recipient,
        // None left to release (the recipient deleted them first): the page says only what comes next.
        released: result.released.length,
        releasedOne: result.released.length === 1,
      }),
    );
  });

  router.post('/c/:token/no-challenge', async (req: Request<{ token: string }>, res) => {
    const challenge = await openChallenge(req, res);
    if (!challenge) return;
    await setSenderOptOut(deps.db, challenge.sender, true);
    log.info({ event: 'sender.opted_out', challengeId: challenge.id }, 'sender asked not to be challenged');
    res.send(deps.render('opted-out', { title: challenge.language === 'de' ? 'Sie werden nicht mehr gefragt' : 'You will not be asked again', lang: challenge.language, sender: challenge.sender }));
  });

  return router;
}
