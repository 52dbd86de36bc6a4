/**
 * Senders that are software, not people: the bounce daemons, mailing-list managers and no-reply
 * addresses. Their mail is automatic; a challenge to them is answered by nobody, or by another bounce.
 */
import type { Rule } from '../decision.js';
import { firstHeader, localPartOf } from '../signals.js';
import { normalizeAddress } from '../address.js';

const MAILER_DAEMON = /^(mailer-daemon|mailerdaemon|mail-daemon|postmaster|post_master|double-bounce)$/;
const LIST_SOFTWARE = /^(owner-.+|.+-owner|.+-request|.+-admin|.+-bounces?|listserv|majordomo|mailman|sympa|ezmlm|lyris|listproc|.+\+bounces?(-.*)?)$/;
const NO_REPLY = /^(no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|bounces?|bounces?[-_.+].*|.*[-_.]no[-_.]?reply|no[-_.]?reply[-_.+].*|noreply.*|mailer|automailer|auto[-_.]?(reply|responder|confirm)|notifications?|notify|alerts?)$/;

function envelopeLocal(message: { mailFrom: string; mailFromOriginal?: string }): string {
  return localPartOf(message.mailFromOriginal ?? message.mailFrom);
}

export const mailerDaemonRule: Rule = {
  id: 'mailer-daemon-sender',
  description: 'The envelope sender or the From: address is a mail system (MAILER-DAEMON, postmaster, #@[])',
  symbols: ['MAILER_DAEMON_SENDER'],
  evaluate({ message }) {
    const sender = (message.mailFromOriginal ?? message.mailFrom).toLowerCase();
    if (sender === '#@[]' || (sender && MAILER_DAEMON.test(envelopeLocal(message)))) {
      return { symbol: 'MAILER_DAEMON_SENDER', weight: 0, detail: `envelope sender ${sender} is a mail system`, action: 'quarantine' };
    }
    // Some bounces come with a person's envelope sender but From: MAILER-DAEMON, often with no domain
    // ("Mail Delivery Subsystem <MAILER-DAEMON>", "MAILER-DAEMON <>").
    const fromHeader = firstHeader(message, 'from') ?? '';
    const angle = /<([^<>]*)>/.exec(fromHeader);
    const from = message.fromAddress ?? (angle?.[1] || (angle ? fromHeader.slice(0, angle.index) : fromHeader)).trim();
    if (from && MAILER_DAEMON.test(localPartOf(from).replace(/\\$/, '').replace(/^"|"$/g, '').trim().toLowerCase())) {
      return { symbol: 'MAILER_DAEMON_SENDER', weight: 0, detail: `From: ${from} is a mail system`, action: 'quarantine' };
    }
    return null;
  },
};

export const listSoftwareRule: Rule = {
  id: 'list-software-sender',
  description: 'The envelope sender is list software (owner-*, *-request, *-bounces, LISTSERV, majordomo, …)',
  symbols: ['LIST_SOFTWARE_SENDER'],
  evaluate({ message }) {
    const local = envelopeLocal(message);
    if (!local || !LIST_SOFTWARE.test(local)) return null;
    return { symbol: 'LIST_SOFTWARE_SENDER', weight: 0, detail: `envelope sender ${local}@… is list software`, action: 'quarantine' };
  },
};

export const noReplySenderRule: Rule = {
  id: 'noreply-sender',
  description: 'The envelope sender or the From: address is a no-reply or bounce address',
  symbols: ['NOREPLY_SENDER'],
  evaluate({ message }) {
    const candidates = [envelopeLocal(message)];
    const from = message.fromAddress ?? (firstHeader(message, 'from') ? normalizeAddress(firstHeader(message, 'from')!) : '');
    if (from) candidates.push(localPartOf(from));
    const hit = candidates.find((local) => local && NO_REPLY.test(local));
    if (!hit) return null;
    return { symbol: 'NOREPLY_SENDER', weight: 0, detail: `${hit}@… does not take replies`, action: 'quarantine' };
  },
};
