/**
 * Senders that are software, not people: the bounce daemons, mailing-list managers and no-reply
 * addresses. Their mail is automatic; a challenge to them is answered by nobody, or by another bounce.
 */
import type { Rule } from '../decision.js';
import { firstHeader, localPartOf } from '../signals.js';
import { normalizeAddress } from '../address.js';

// MDaemon (Alt-N) sends its bounces and warnings from the system account `MDaemon@domain`, its
// MAILER-DAEMON.
const MAILER_DAEMON = /^(mailer-daemon|mailerdaemon|mail-daemon|mdaemon|postmaster|post_master|double-bounce)$/;
const LIST_SOFTWARE = /^(owner-.+|.+-owner|.+-request|.+-admin|.+-bounces?|listserv|majordomo|mailman|sympa|ezmlm|lyris|listproc|.+\+bounces?(-.*)?)$/;
const NO_REPLY = /^(no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|bounces?|bounces?[-_.+].*|.*[-_.]no[-_.]?reply|no[-_.]?reply[-_.+].*|noreply.*|mailer|automailer|auto[-_.]?(reply|responder|confirm)|notifications?|notify|alerts?)$/;

// BATV (draft-levine-smtp-batv) and the tags ESPs and gateways put before the address itself:
// `prvs=TAG=user`, SparkPost's `msprvs1=TAG=user`, Barracuda's `btv1==TAG==user`. The rules read the
// address behind the tag.
const BATV_TAG = /^(?:(?:prvs|msprvs\d*)=[^=@]*=|btv1==[^=@]*==)/;

// A bounce-processing address written with the word anywhere, not only first: Postmark's
// `pm_bounces@pm-bounces.brand`, `news.bounces-123@`, `bounce_handler@`.
const BOUNCE_WORD = /(?:^|[-_.+=])bounces?(?:$|[-_.+=])/;

function envelopeLocal(message: { mailFrom: string; mailFromOriginal?: string }): string {
  return localPartOf(message.mailFromOriginal ?? message.mailFrom).replace(BATV_TAG, '');
}

/**
 * A VERP return path carries the recipient's address in its local part (`…-alice=example.org@…`,
 * `bounces+1234-alice=example.org@…`): an address made for this one delivery, read by bounce
 * software. Which of the recipient's addresses it names, if any.
 */
function verpRecipient(local: string, addresses: readonly string[]): string | undefined {
  return addresses.find((a) => {
    const at = a.lastIndexOf('@');
    return at > 0 && local.includes(`${a.slice(0, at)}=${a.slice(at + 1)}`);
  });
}

export const mailerDaemonRule: Rule = {
  id: 'mailer-daemon-sender',
  description: 'The envelope sender or the From: address is a mail system (MAILER-DAEMON, postmaster, MDaemon, #@[])',
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
  description: 'The envelope sender or the From: address is a no-reply or bounce address, or the envelope sender is a VERP address naming the recipient',
  symbols: ['NOREPLY_SENDER'],
  evaluate({ message, recipient }) {
    const envelope = envelopeLocal(message);
    const candidates = [envelope];
    const from = message.fromAddress ?? (firstHeader(message, 'from') ? normalizeAddress(firstHeader(message, 'from')!) : '');
    if (from) candidates.push(localPartOf(from));
    const hit = candidates.find((local) => local && (NO_REPLY.test(local) || BOUNCE_WORD.test(local)));
    if (hit) return { symbol: 'NOREPLY_SENDER', weight: 0, detail: `${hit}@… does not take replies`, action: 'quarantine' };
    const verp = envelope ? verpRecipient(envelope, recipient.addresses) : undefined;
    if (verp) {
      return { symbol: 'NOREPLY_SENDER', weight: 0, detail: `the envelope sender encodes ${verp} (VERP): a bounce address made for this delivery`, action: 'quarantine' };
    }
    return null;
  },
};
