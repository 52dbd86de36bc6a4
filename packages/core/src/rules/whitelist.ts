/**
 * The recipient whitelisted the sender's address or domain: deliver — unless the message is shown to
 * be forged (SPF fail for the envelope sender, or DMARC fail for the From: domain). A forged
 * whitelisted address gets no free pass and, being forged, no challenge either.
 *
 * Mail one of our users submitted to our MTA after logging in (MessageFacts.localSubmission) is
 * delivered the same way: a colleague is neither unknown nor forged, and a challenge to our own domain
 * would only loop back to our own MX. Not when its From: names another address than the one that
 * logged in, besides it or in a second From: field, or names none: the forged-local-sender rule
 * judges that.
 */
import type { Rule } from '../decision.js';

export const whitelistRule: Rule = {
  id: 'whitelist',
  description: "The sender's address or domain is on the recipient's whitelist and the message is not shown forged, or the sender is one of our users who logged in to our MTA",
  symbols: ['WHITELIST_ADDRESS', 'WHITELIST_DOMAIN', 'WHITELIST_FORGED', 'LOCAL_SUBMISSION'],
  evaluate({ message, recipient }) {
    const m = recipient.whitelisted;
    if (!m) {
      const user = message.localSubmission;
      const authors = message.fromAddresses ?? (message.fromAddress ? [message.fromAddress] : []);
      if (!user || authors.length === 0 || authors.some((a) => a !== user)) return null;
      return { symbol: 'LOCAL_SUBMISSION', weight: -10, detail: `${user} logged in to our MTA to send it`, action: 'deliver' };
    }
    const auth = message.auth;
    if (auth && (auth.spf.result === 'fail' || auth.dmarc.result === 'fail')) {
      return {
        symbol: 'WHITELIST_FORGED',
        weight: 3,
        detail: `${m.kind} ${m.value} is whitelisted, but the message fails ${auth.dmarc.result === 'fail' ? 'DMARC' : 'SPF'}`,
        action: 'quarantine',
      };
    }
    // The sender signed with DKIM when the entry was made: a message without that signature is not them.
    const expected = m.auth?.dkimDomains ?? [];
    if (auth && expected.length) {
      const sigs = auth.dkim.filter((s) => expected.includes(s.domain));
      const signed = sigs.some((s) => s.result === 'pass');
      const dnsTrouble = sigs.some((s) => s.result === 'temperror');
      if (!signed && !dnsTrouble) {
        return {
          symbol: 'WHITELIST_FORGED',
          weight: 3,
          detail: `${m.kind} ${m.value} is whitelisted, but the message lacks the DKIM signature of ${expected.join(', ')} seen before`,
          action: 'quarantine',
        };
      }
    }
    return {
      symbol: m.kind === 'address' ? 'WHITELIST_ADDRESS' : 'WHITELIST_DOMAIN',
      weight: -10,
      detail: `${m.kind} ${m.value} is on the whitelist (${m.source})`,
      action: 'deliver',
    };
  },
};
