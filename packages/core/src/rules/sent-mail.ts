/**
 * Mail that belongs to a conversation the recipient started. A reply to a message the recipient sent
 * is delivered; so is a bounce, auto-reply or another system's challenge about such a message (the user
 * must see it, and may answer the other side's challenge). An automatic message about a message the
 * recipient never sent is backscatter from a forgery of our user's address: discarded. Both need the
 * sent-mail log (outgoing tap or `crgate import-sent`); without one nothing is concluded.
 */
import type { Rule, RuleContext } from '../decision.js';
import { nullSenderRule } from './null-sender.js';
import { mailerDaemonRule, listSoftwareRule } from './role-sender.js';
import { headerValues } from '../signals.js';
import { normalizeAddress } from '../address.js';
import type { MessageFacts } from '../facts.js';
import { deliveryReportRule, reportSubjectRule } from './delivery-report.js';
import { autoSubmittedRule, autoReplyRule } from './auto-reply.js';
import { otherChallengeRule } from './other-cr-system.js';

/** The rules that recognise automatic answers to some earlier message. */
const AUTOMATIC_ANSWER = [nullSenderRule, mailerDaemonRule, deliveryReportRule, reportSubjectRule, otherChallengeRule, autoSubmittedRule, autoReplyRule];

/**
 * A bounce, report, auto-reply or challenge: an automatic answer to some earlier message.
 * `bySubject: false` asks for evidence in how the message was sent or built, not in its subject
 * alone: a person writes "Absence request for next week" or "Delivery problem with order 4711" too,
 * so a subject is enough to hold a message but never to throw it away.
 */
export function isAutomaticAnswer(ctx: RuleContext, { bySubject = true }: { bySubject?: boolean } = {}): boolean {
  if (!bySubject) ctx = { ...ctx, message: { ...ctx.message, subject: undefined } };
  if (AUTOMATIC_ANSWER.some((rule) => rule.evaluate(ctx) !== null)) return true;
  // List software writing on its own (not a post to the list) sends notices: bounces, loop alerts,
  // moderation notes.
  return listSoftwareRule.evaluate(ctx) !== null && !isListPost(ctx.message);
}

/**
 * A post the list distributes: it carries List-Post or List-Id, or — lists older than RFC 2369, such
 * as LISTSERV and Majordomo, add neither — it is addressed to the list itself (To, Cc or Sender name
 * the address the envelope sender manages: owner-users@host or users-request@host posts to
 * users@host). A notice from the list software goes to one subscriber, not to the list.
 */
function isListPost(message: MessageFacts): boolean {
  if (headerValues(message, 'list-post').length > 0 || headerValues(message, 'list-id').length > 0) return true;
  const list = listAddressOf(message.mailFromOriginal ?? message.mailFrom);
  if (!list) return false;
  const sender = headerValues(message, 'sender').map((v) => normalizeAddress(/<([^<>]*)>/.exec(v)?.[1] ?? v));
  return Boolean(message.headerRecipients?.includes(list)) || sender.includes(list);
}

/** The list address an envelope sender of list software stands for, or undefined. */
function listAddressOf(envelope: string): string | undefined {
  const at = envelope.lastIndexOf('@');
  if (at < 0) return undefined;
  const local = envelope.slice(0, at).toLowerCase().split('+')[0]!;
  const name = /^owner-(.+)$/.exec(local)?.[1] ?? /^(.+)-(?:owner|request|admin|bounces?)$/.exec(local)?.[1];
  return name ? normalizeAddress(`${name}@${envelope.slice(at + 1)}`) : undefined;
}

function forged(ctx: RuleContext): boolean {
  const auth = ctx.message.auth;
  return Boolean(auth && (auth.spf.result === 'fail' || auth.dmarc.result === 'fail'));
}

/** Whether the Message-ID is named in In-Reply-To or References (not only in the body). */
function inReplyHeaders(message: MessageFacts, id: string): boolean {
  return ['in-reply-to', 'references'].some((h) => headerValues(message, h).some((v) => v.includes(id)));
}

export const replyToSentRule: Rule = {
  id: 'reply-to-sent',
  description: 'The message answers (or reports on) a message the recipient sent',
  symbols: ['REPLY_TO_SENT'],
  evaluate(ctx) {
    let matched = ctx.recipient.sentMail?.matched ?? [];
    // A Message-ID line in the body is the returned message inside a bounce or report; in what a
    // person writes it is only quoted, and makes no reply.
    if (!isAutomaticAnswer(ctx, { bySubject: false })) matched = matched.filter((id) => inReplyHeaders(ctx.message, id));
    if (matched.length === 0 || forged(ctx)) return null;
    return { symbol: 'REPLY_TO_SENT', weight: -5, detail: `refers to ${matched[0]}, sent by the recipient`, action: 'deliver' };
  },
};

export const backscatterRule: Rule = {
  id: 'backscatter',
  description: "A bounce, auto-reply or challenge about a message the recipient never sent (a forgery of the recipient's address)",
  symbols: ['BACKSCATTER'],
  evaluate(ctx) {
    const sent = ctx.recipient.sentMail;
    if (!sent?.hasLog || sent.matched.length > 0 || !isAutomaticAnswer(ctx, { bySubject: false })) return null;
    return {
      symbol: 'BACKSCATTER',
      weight: 5,
      detail: 'an automatic answer to a message the recipient did not send',
      action: 'discard',
    };
  },
};
