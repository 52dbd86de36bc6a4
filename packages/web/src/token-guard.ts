/**
 * Throttles guessing of link tokens (/c/<token>, /signin/<token>) per client address. A token has 256
 * bits, so guessing one is hopeless anyway; the limit keeps a guesser from loading the database and
 * makes the attempt visible in the log. Every look-up takes a slot first (so parallel guesses cannot
 * slip past the limit) and a token that exists (valid, spent or expired) gives it back: only unknown
 * or malformed tokens count, and a client that opens its own link many times is never blocked.
 * Counted in PostgreSQL like the sign-in limits, shared by every web process.
 */
import type { Request, Response } from 'express';
import type { Logger } from '@crgate/core';
import { forgiveRateSlot, takeRateSlot, type Db } from '@crgate/store';
import type { Render } from './templates.js';
import { clientAddress, HOUR_MS } from './site-context.js';

const BUCKET = 'bad-token-client';

export interface TokenGuardDeps {
  db: Db;
  render: Render;
  logger: Logger;
  now: () => Date;
  /** web.badTokensPerClientPerHour */
  limit: number;
}

export interface TokenAttempt {
  /** The token named something that exists: the slot is given back. */
  known(): Promise<void>;
  /** The token named nothing: the slot stays counted, and reaching the limit is logged. */
  unknown(): void;
}

/** The languages of the sender's pages: those challenges are written in. */
export type PageLanguage = 'en' | 'de';

/**
 * The language a browser asks for, of the sender's page languages, for pages about a link that names
 * no challenge (unknown, or refused before it was looked up): English unless German is preferred.
 */
export function browserLanguage(req: Request): PageLanguage {
  // The browser's own order (by q, then as written), not negotiator's choice among ours: asked for
  // `en-GB,de`, that prefers the exact `de` to the region `en-GB`, and answered German.
  for (const tag of req.acceptsLanguages()) {
    const primary = tag.toLowerCase().split(/[-_]/)[0];
    if (primary === 'en' || primary === 'de') return primary;
  }
  return 'en';
}

const TOO_MANY: Record<PageLanguage, { heading: string; message: string }> = {
  en: { heading: 'Too many attempts', message: 'Too many links that do not exist were opened from your network. Try again later.' },
  de: {
    heading: 'Zu viele Versuche',
    message: 'Aus Ihrem Netz wurden zu viele Links geöffnet, die es nicht gibt. Versuchen Sie es später noch einmal.',
  },
};

/**
 * Whether a browser says the request loads part of some page (an image, a frame, a script, a fetch)
 * rather than opening a page: Sec-Fetch-Dest other than `document`. A link is opened as a page.
 */
function embedded(req: Request): boolean {
  const dest = req.get('sec-fetch-dest');
  return dest !== undefined && dest !== 'document';
}

/**
 * Starts a look-up for this client; answers 429 itself (with Retry-After) and returns undefined when
 * the client is over the limit.
 *
 * A request that a browser marks as embedded is answered 404 at once, with no look-up and no count.
 * Counted, any page on any site could name twenty made-up tokens in <img> tags and lock the network of
 * each of its visitors out of their sign-in and confirmation links for an hour. Not looked up, such a
 * request tells nothing either, so a guesser gains nothing by claiming to be an image. Requests without
 * the header (older browsers, scripts) are looked up and counted as before.
 */
export async function startTokenAttempt(
  deps: TokenGuardDeps,
  req: Request,
  res: Response,
  link: 'challenge' | 'signin',
  language: PageLanguage = 'en',
): Promise<TokenAttempt | undefined> {
  if (embedded(req)) {
    res.status(404).send(deps.render('error', { title: 'Not found', heading: 'Not found', message: 'There is no page here.' }));
    return undefined;
  }
  const client = clientAddress(req);
  const check = { bucket: BUCKET, key: client, limit: deps.limit, windowMs: HOUR_MS };
  const at = deps.now();
  const slot = await takeRateSlot(deps.db, check, at);
  if (!slot.allowed) {
    res.set('Retry-After', String(Math.ceil(slot.retryAfterMs / 1000)));
    const text = TOO_MANY[language];
    res.status(429).send(deps.render('error', { title: text.heading, heading: text.heading, message: text.message, lang: language }));
    return undefined;
  }
  return {
    known: () => forgiveRateSlot(deps.db, check, at),
    unknown: () => {
      // Logged once per client and window, when the limit is reached, not on every refused request.
      if (slot.count === deps.limit) {
        deps.logger.warn({ event: 'web.token_guessing', client, link, failures: slot.count }, 'too many unknown link tokens from one client: throttled for up to an hour');
      }
    },
  };
}
