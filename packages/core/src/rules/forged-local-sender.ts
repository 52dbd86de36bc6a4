/**
 * Mail that claims to come from the recipient or from one of our own domains but does not
 * authenticate is the classic forgery of backscatter spam: a challenge would go to our own user.
 * Mail whose envelope sender is the recipient's own address is never challenged, authenticated or
 * not: the challenge could only go back to the recipient. SPF pass does not tell the recipient from
 * anybody else who sends through the same provider (a shared `include:`), and a note to oneself needs
 * no confirmation.
 */
import type { Rule, RuleContext } from '../decision.js';
import { domainOf } from '../address.js';
import { senderAuthenticated } from '../signals.js';

/** The recipient's address or one of our domains, claimed (envelope or From:) without authenticating. */
export function forgedLocalClaim({ message, recipient, policy }: RuleContext): string | undefined {
  // The envelope sender our MTA saw authenticate is vouched for; a From: naming another of our
  // addresses is still a claim to check.
  const claims = [message.mailFrom, message.fromAddress ?? ''].filter((a) => a && a !== message.localSubmission);
  const own = claims.find((a) => recipient.addresses.includes(a) || policy.localDomains.has(domainOf(a)));
  return own && !senderAuthenticated(message) ? own : undefined;
}

export const forgedLocalSenderRule: Rule = {
  id: 'forged-local-sender',
  description: "The sender uses the recipient's own address or one of our domains without authenticating, or the envelope sender is the recipient",
  symbols: ['FORGED_LOCAL_SENDER', 'SENDER_IS_RECIPIENT'],
  evaluate(ctx) {
    const { message, recipient } = ctx;
    const own = forgedLocalClaim(ctx);
    if (own) {
      return { symbol: 'FORGED_LOCAL_SENDER', weight: 4, detail: `claims ${own} without authenticating`, action: 'quarantine' };
    }
    if (message.mailFrom && recipient.addresses.includes(message.mailFrom)) {
      return {
        symbol: 'SENDER_IS_RECIPIENT',
        weight: 0,
        detail: `the envelope sender ${message.mailFrom} is the recipient's own address: a challenge would go back to the recipient`,
        action: 'quarantine',
      };
    }
    return null;
  },
};
