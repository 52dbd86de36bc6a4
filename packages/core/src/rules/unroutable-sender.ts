/** A sender domain with no MX and no address (or a null MX, RFC 7505) could not receive a challenge. */
import type { Rule } from '../decision.js';
import { domainOf } from '../address.js';

export const unroutableSenderRule: Rule = {
  id: 'unroutable-sender-domain',
  description: "The envelope sender's domain has no MX and no A/AAAA record",
  symbols: ['SENDER_DOMAIN_UNROUTABLE'],
  evaluate({ message }) {
    if (message.senderDomainRoutable !== false || !message.mailFrom) return null;
    return {
      symbol: 'SENDER_DOMAIN_UNROUTABLE',
      weight: 2,
      detail: `${domainOf(message.mailFrom)} cannot receive mail`,
      action: 'quarantine',
    };
  },
};
