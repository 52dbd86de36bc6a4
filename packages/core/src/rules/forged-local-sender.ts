/**
 * Mail that claims to come from the recipient or from one of our own domains but does not
 * authenticate is the classic forgery of backscatter spam: a challenge would go to our own user.
 */
import type { Rule } from '../decision.js';
import { domainOf } from '../address.js';
import { senderAuthenticated } from '../signals.js';

export const forgedLocalSenderRule: Rule = {
  id: 'forged-local-sender',
  description: "The sender uses the recipient's own address or one of our domains without authenticating",
  symbols: ['FORGED_LOCAL_SENDER'],
  evaluate({ message, recipient, policy }) {
    const claims = [message.mailFrom, message.fromAddress ?? ''].filter(Boolean);
    const own = claims.find((a) => recipient.addresses.includes(a) || policy.localDomains.has(domainOf(a)));
    if (!own || senderAuthenticated(message)) return null;
    return { symbol: 'FORGED_LOCAL_SENDER', weight: 4, detail: `claims ${own} without authenticating`, action: 'quarantine' };
  },
};
