/**
 * The quarantine pages of a signed-in recipient: the list of held and discarded copies (search,
 * filters, sort, keyset pages), one message, its HTML in a sandboxed frame, the page that shows where a
 * link leads, and the actions. Ownership is never checked here: every store query carries the session's
 * user id, so another user's id simply matches nothing (404 for a page, 0 copies for an action).
 */
import { Router, type Request, type Response } from 'express';
import { sanitizeSubject } from '@crgate/core';
import {
  applyQuarantineAction,
  countQuarantine,
  getQuarantinedMessage,
  listQuarantine,
  QUARANTINE_ACTIONS,
  QuarantineQueryError,
  type QuarantineAction,
  type QuarantineItem,
  type QuarantineQuery,
} from '@crgate/store';
import { DECISION_WORDS, FILTER_REASONS, reasonPhrase, reasonPhrases } from './reason-phrases.js';
import { htmlDocumentForView, linkTarget, mailtoAddresses, MAX_VIEW_BYTES, parseForView, showBidiControls } from './message-view.js';
import { checkSessionCsrf, field, fieldList, formatDate, page, query, requireUser, signedIn, type SiteDeps } from './site-context.js';

const DECISIONS = ['challenge', 'quarantine', 'discard'] as const;

const ACTION_DONE: Record<QuarantineAction, string> = {
  release: 'released',
  'release-whitelist': 'released, and their senders whitelisted',
  delete: 'deleted',
  spam: 'marked as spam',
  'spam-blacklist': 'marked as spam, and their senders blacklisted',
};

/** CSP of the HTML frame: nothing loads but inline styles and data: images; sandboxed even if opened alone. */
const FRAME_CSP =
  "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; " +
  'sandbox allow-top-navigation-by-user-activation';
/** CSP of the message page: the usual one, plus the frame from this site. */
const VIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function userId(res: Response): number {
  return signedIn(res)!.session.userId;
}

function recipientId(raw: string): number | undefined {
  return /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The most of a subject or From: the list shows: a 15 KB subject made one row 9,000 px tall. */
const LIST_TEXT_CHARS = 200;

/** `text` on one line (as sanitizeSubject folds it), cut to LIST_TEXT_CHARS with "…" when longer. */
function listText(text: string): string {
  const whole = sanitizeSubject(text, Infinity);
  const cut = sanitizeSubject(whole, LIST_TEXT_CHARS);
  return cut === whole ? whole : `${cut}…`;
}

/** The list's parameters an action returns to, and the most characters of each that is kept. */
const BACK_KEYS: ReadonlyArray<readonly [string, number]> = [
  ['q', 200],
  ['decision', 20],
  ['reason', 64],
  ['sort', 10],
  ['after', 64],
];

/**
 * The list an action came from (`?q=…&after=…`), read back: only the list's own parameters, each cut
 * to its bound; anything else in it is dropped. A search such as `a*b` or one of 200 non-Latin
 * characters (over 1,000 characters encoded) comes back as it was.
 */
function backParams(back: string | undefined): URLSearchParams {
  const out = new URLSearchParams();
  if (!back || back.length > 16_384) return out;
  const given = new URLSearchParams(back.startsWith('?') ? back.slice(1) : back);
  for (const [key, max] of BACK_KEYS) {
    const value = given.get(key);
    if (value) out.set(key, value.slice(0, max));
  }
  return out;
}

function row(item: QuarantineItem, now: Date) {
  const from = item.fromHeader || item.sender || '(no sender)';
  return {
    id: item.id,
    from: listText(from),
    // The envelope sender, when From: does not already show it.
    sentBy: item.sender && !from.toLowerCase().includes(item.sender) ? item.sender : undefined,
    envelope: item.sender ? undefined : 'no return address',
    subject: listText(item.subject || '(no subject)'),
    date: formatDate(item.receivedAt),
    decision: DECISION_WORDS[item.decision] ?? item.decision,
    discarded: item.status === 'discarded',
    reasons: reasonPhrases(item, now),
    score: item.score === null ? '' : item.score.toFixed(2),
  };
}

export function quarantineRoutes(deps: SiteDeps): Router {
  const router = Router();
  const log = deps.logger;
  router.use('/q', requireUser(deps));

  function notFound(res: Response): void {
    res.status(404).send(page(deps, res, 'error', { title: 'Not found', heading: 'Message not found', message: 'There is no such message in your held mail.' }));
  }

  router.get('/q', async (req, res) => {
    const decision = DECISIONS.find((d) => d === query(req, 'decision'));
    const reason = FILTER_REASONS.find((r) => r.symbol === query(req, 'reason'))?.symbol;
    const sort = query(req, 'sort') === 'score' ? 'score' : 'date';
    const search = query(req, 'q')?.slice(0, 200) ?? '';
    const q: QuarantineQuery = { userId: userId(res), decision, reason, sort, search, after: query(req, 'after'), limit: 50 };
    let result;
    try {
      result = await listQuarantine(deps.db, q);
    } catch (err) {
      if (!(err instanceof QuarantineQueryError)) throw err;
      return res.redirect(303, `${deps.basePath}/q`);
    }
    const counts = await countQuarantine(deps.db, userId(res));
    const filters = new URLSearchParams();
    if (search) filters.set('q', search);
    if (decision) filters.set('decision', decision);
    if (reason) filters.set('reason', reason);
    if (sort !== 'date') filters.set('sort', sort);
    const here = new URLSearchParams(filters);
    if (q.after) here.set('after', q.after);
    const next = result.next ? new URLSearchParams(filters) : undefined;
    next?.set('after', result.next!);
    const done = QUARANTINE_ACTIONS.find((a) => a === query(req, 'done'));
    const n = Number(query(req, 'n') ?? 0);
    const now = deps.now();
    res.send(
      page(deps, res, 'quarantine', {
        title: 'Held mail',
        section: 'quarantine',
        wide: true,
        csrf: signedIn(res)!.session.csrfToken,
        rows: result.items.map((i) => row(i, now)),
        scores: result.items.some((i) => i.score !== null),
        counts,
        moreThan: counts.moreThan?.toLocaleString('en-US'),
        search,
        decision,
        reason,
        sort,
        decisions: DECISIONS.map((d) => ({ value: d, label: DECISION_WORDS[d], selected: d === decision })),
        reasons: FILTER_REASONS.map((r) => ({ ...r, selected: r.symbol === reason })),
        filtered: filters.size > 0,
        paged: Boolean(q.after),
        firstPage: filters.size ? `?${filters}` : '',
        nextPage: next ? `?${next}` : undefined,
        back: here.size ? `?${here}` : '',
        // The message links carry the list's state, so an action on a message page returns to it.
        messageQuery: here.size ? `?${new URLSearchParams({ back: `?${here}` })}` : '',
        flash: done ? `${Number.isSafeInteger(n) && n >= 0 ? n : 0} message(s) ${ACTION_DONE[done]}.` : undefined,
        nothingSelected: query(req, 'done') === 'none',
      }),
    );
  });

  router.post('/q/actions', async (req, res) => {
    if (!checkSessionCsrf(deps, req, res)) return;
    const action = QUARANTINE_ACTIONS.find((a) => a === field(req, 'action'));
    const ids = fieldList(req, 'ids').map((v) => recipientId(v)).filter((v): v is number => v !== undefined);
    if (!action) return res.status(400).send(page(deps, res, 'error', { title: 'Bad request', heading: 'Choose an action', message: 'No action was chosen.' }));
    if (!ids.length) {
      // Nothing ticked: say so, rather than "0 message(s) released."
      const params = backParams(field(req, 'back'));
      params.set('done', 'none');
      return res.redirect(303, `${deps.basePath}/q?${params}`);
    }
    const result = await applyQuarantineAction(deps.db, userId(res), ids.slice(0, 500), action);
    log.info({ event: 'web.quarantine_action', userId: userId(res), action, asked: ids.length, copies: result.copies, listed: result.listed.length }, `quarantine: ${action}`);
    const params = backParams(field(req, 'back'));
    params.set('done', action);
    params.set('n', String(result.copies));
    res.redirect(303, `${deps.basePath}/q?${params}`);
  });

  // Before /q/:id: where a link in a message leads, shown before anything is opened.
  router.get('/q/link', (req, res) => {
    const target = linkTarget(query(req, 'u'));
    if (!target) return res.status(400).send(page(deps, res, 'error', { title: 'Not a link', heading: 'Not a link', message: 'This link cannot be opened.' }));
    res.send(
      page(deps, res, 'leave', {
        title: 'Leaving crgate',
        section: 'quarantine',
        url: target.href,
        host: target.protocol === 'mailto:' ? mailtoAddresses(target)!.join(', ') : target.hostname,
        mailto: target.protocol === 'mailto:',
        plain: target.protocol === 'http:',
      }),
    );
  });

  router.get('/q/:id', async (req: Request<{ id: string }>, res) => {
    const id = recipientId(req.params.id);
    const msg = id === undefined ? undefined : await getQuarantinedMessage(deps.db, userId(res), id, { bodyBytes: MAX_VIEW_BYTES });
    if (!msg) return notFound(res);
    const view = msg.raw ? await parseForView(msg.raw) : undefined;
    const now = deps.now();
    const back = backParams(query(req, 'back'));
    res.set('Content-Security-Policy', VIEW_CSP);
    res.send(
      page(deps, res, 'message', {
        title: msg.subject || 'Held message',
        section: 'quarantine',
        wide: true,
        csrf: signedIn(res)!.session.csrfToken,
        id: msg.id,
        back: back.size ? `?${back}` : '',
        subject: msg.subject || '(no subject)',
        envelopeSender: msg.envelopeSender || '(none: a bounce or notice)',
        rcptTo: msg.rcptTo,
        received: formatDate(msg.receivedAt),
        expires: formatDate(msg.expiresAt),
        client: [msg.clientAddress, msg.clientHelo && `(${msg.clientHelo})`].filter(Boolean).join(' '),
        decision: DECISION_WORDS[msg.decision] ?? msg.decision,
        status: msg.status,
        statusDetail: msg.statusDetail,
        actionable: msg.status === 'held' || msg.status === 'discarded',
        score: msg.score === null ? undefined : msg.score.toFixed(3),
        summary: reasonPhrases(msg, now),
        reasons: msg.reasons.map((r) => ({ phrase: reasonPhrase(r.symbol), symbol: r.symbol, detail: r.detail })),
        view,
        attachments: view?.attachments.map((a) => ({ ...a, filename: showBidiControls(a.filename), size: sizeText(a.size) })),
        gone: !msg.bodyStored,
        // Only the first MAX_VIEW_BYTES were read: say so, since text and attachments past them are missing.
        shownPart: msg.raw && msg.raw.length < msg.size ? { shown: sizeText(msg.raw.length), size: sizeText(msg.size) } : undefined,
      }),
    );
  });

  router.get('/q/:id/html', async (req: Request<{ id: string }>, res) => {
    const id = recipientId(req.params.id);
    const msg = id === undefined ? undefined : await getQuarantinedMessage(deps.db, userId(res), id, { bodyBytes: MAX_VIEW_BYTES });
    if (!msg?.raw) return notFound(res);
    const doc = await htmlDocumentForView(msg.raw, `${deps.basePath}/q/link`);
    res.set({ 'Content-Security-Policy': FRAME_CSP, 'Content-Type': 'text/html; charset=utf-8' });
    if (!doc) return res.status(404).send('<!doctype html><p>This message has no HTML part.</p>');
    res.send(doc.html);
  });

  return router;
}
