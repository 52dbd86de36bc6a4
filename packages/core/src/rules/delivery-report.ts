/**
 * Delivery status notifications, feedback (ARF) reports and read receipts (RFC 3462/6522
 * multipart/report, also nested inside another multipart): reports about mail, never from a person.
 */
import type { Rule } from '../decision.js';
import { excerpt } from './excerpt.js';

const REPORT_PARTS = new Set([
  'multipart/report',
  'message/delivery-status',
  'message/global-delivery-status',
  'message/feedback-report',
  'message/disposition-notification',
  'message/global-disposition-notification',
]);

// Subjects of non-standard bounces, complaint reports and DMARC aggregate reports (many MTAs and ISPs
// never used multipart/report, and RFC 7489 reports are a bare gzip or zip attachment).
// "Fwd:" too: a bounce forwarded by hand is still a bounce, about mail the recipient may never have sent.
const REPORT_SUBJECT = new RegExp(
  '^(?:fwd?:\\s*)?(?:' +
    [
      'undeliver(?:ed|able)(?: mail| message)?',
      'undelivered mail returned to sender',
      'returned mail',
      'return(?:ed)? to sender',
      'delivery (?:status notification|failure|failed|has failed|problem|report|notification)',
      'mail delivery (?:failed|failure|subsystem|system|warning)',
      'mail failed, returning to sender',
      'non remis',
      '(?:re: )?your message to .{1,80} awaits moderator approval',
      'failure notice',
      'non[- ]?deliver(?:y|able)',
      'nondeliverable',
      'mail system error',
      'message (?:not delivered|delivery failed|status - undeliverable)',
      'could not send (?:your )?message',
      'delivery notification: delivery has failed',
      'warning: could not send message',
      'complaint about message from',
      'abuse report',
      'mail could not be delivered',
      'unzustellbar',
      'nicht zustellbar',
      'no se puede entregar',
      'onbestelbaar',
      'warning: message .{1,80} delayed',
      'delayed mail',
      // DMARC aggregate reports (RFC 7489 §7.2.1.1: "Report Domain: <domain> Submitter: <org> Report-ID:
      // <id>"), as reporters write it: Microsoft puts "[Preview] " before it, Mail.Ru ";" between the
      // parts, Amazon SES "Dmarc Aggregate " before it. A gzip or zip of XML, never from a person.
      '(?:\\[[^\\]]{1,40}\\]\\s*)?(?:dmarc aggregate )?report domain:\\s*\\S.{0,300}?\\bsubmitter:',
    ].join('|') +
    ')',
  'i',
);

export const reportSubjectRule: Rule = {
  id: 'report-subject',
  description: 'The subject is that of a bounce or an abuse complaint (for the MTAs that send no multipart/report)',
  symbols: ['BOUNCE_SUBJECT'],
  evaluate({ message }) {
    const subject = message.subject ?? '';
    if (!REPORT_SUBJECT.test(subject.trim())) return null;
    return { symbol: 'BOUNCE_SUBJECT', weight: 0, detail: `subject "${excerpt(subject, 60)}" is a bounce or report`, action: 'quarantine' };
  },
};

export const deliveryReportRule: Rule = {
  id: 'delivery-report',
  description: 'The message is a delivery report, feedback report or read receipt (multipart/report, also nested)',
  symbols: ['DELIVERY_REPORT'],
  evaluate({ message }) {
    const found = (message.contentTypes ?? []).find((t) => REPORT_PARTS.has(t));
    if (!found) return null;
    return { symbol: 'DELIVERY_REPORT', weight: 0, detail: `contains ${found}`, action: 'quarantine' };
  },
};
