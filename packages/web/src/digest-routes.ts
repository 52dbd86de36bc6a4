/**
 * Digest links: `/d/<token>` opens one held message named by a signed, expiring token (see
 * core/digest-links.ts) and offers to release it. GET only shows the page; only the POST from it
 * releases, and the token allows nothing but that one message.
 */
import { Router, type Request } from 'express';
import { readDigestToken, type Logger } from '@crgate/core';
import { applyQuarantineAction, getQuarantinedMessage, type Db } from '@crgate/store';
import type { Render } from './templates.js';
import { DECISION_WORDS, reasonPhrases } from './reason-phrases.js';

export interface DigestRouteDeps {
  db: Db;
  basePath: string;
  render: Render;
  logger: Logger;
  now: () => Date;
  /** The web key (derived from the token secret) that signs digest links. */
  webSecret: () => string;
}

export function digestRoutes(deps: DigestRouteDeps): Router {
  const router = Router();
  const gone = (res: import('express').Response) =>
    res.status(410).send(deps.render('error', { title: 'Link no longer valid', heading: 'Link no longer valid', message: 'This link has expired or is not valid. Sign in to see your held mail.' }));

  router.get('/d/:token', async (req: Request<{ token: string }>, res) => {
    const ref = readDigestToken(deps.webSecret(), req.params.token, deps.now());
    const msg = ref && (await getQuarantinedMessage(deps.db, ref.userId, ref.recipientId));
    if (!ref || !msg) return gone(res);
    res.send(
      deps.render('digest-item', {
        title: 'Held message',
        base: deps.basePath,
        token: req.params.token,
        sender: msg.envelopeSender || '(none: a bounce or notice)',
        subject: msg.subject || '(no subject)',
        received: msg.receivedAt.toUTCString(),
        decision: DECISION_WORDS[msg.decision] ?? msg.decision,
        why: reasonPhrases(msg, deps.now()),
        actionable: msg.status === 'held' || msg.status === 'discarded',
      }),
    );
  });

  router.post('/d/:token', async (req: Request<{ token: string }>, res) => {
    const ref = readDigestToken(deps.webSecret(), req.params.token, deps.now());
    if (!ref) return gone(res);
    const result = await applyQuarantineAction(deps.db, ref.userId, [ref.recipientId], 'release');
    deps.logger.info({ event: 'web.quarantine_action', userId: ref.userId, action: 'release', asked: 1, copies: result.copies, via: 'digest' }, 'released from a digest link');
    res.send(
      deps.render('error', {
        title: 'Released',
        heading: result.copies ? 'Released' : 'Nothing to release',
        message: result.copies ? 'The message is on its way to your mailbox.' : 'This message was already released or deleted.',
      }),
    );
  });
  return router;
}
