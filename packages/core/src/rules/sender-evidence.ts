/**
 * Positive evidence before a challenge (policy.challengeRequiresAuth, on by default): the envelope
 * sender must be shown real — SPF pass for its domain, or a valid DKIM signature aligned with it —
 * and the From: domain must align with it, since the challenge goes to the envelope sender only.
 * Without evidence the address may be forged, and a challenge to it would be backscatter.
 */
import type { Rule } from '../decision.js';
import { domainOf } from '../address.js';
import { alignedDomains, senderAuthenticated } from '../signals.js';

export const senderUnverifiedRule: Rule = {
  id: 'sender-unverified',
  description: 'No SPF pass or aligned DKIM signature shows the envelope sender is real (policy.challengeRequiresAuth)',
  symbols: ['SENDER_UNVERIFIED'],
  evaluate({ message, policy }) {
    if (!policy.challengeRequiresAuth || !message.mailFrom || senderAuthenticated(message)) return null;
    const why = message.auth ? 'neither SPF nor an aligned DKIM signature vouches for it' : 'authentication was not checked';
    return {
      symbol: 'SENDER_UNVERIFIED',
      weight: 0,
      detail: `envelope sender ${message.mailFrom}: ${why}`,
      action: 'quarantine',
    };
  },
};

export const fromNotAlignedRule: Rule = {
  id: 'from-not-aligned',
  description: "The From: domain differs from the envelope sender's and is not aligned with it",
  symbols: ['FROM_NOT_ALIGNED'],
  evaluate({ message }) {
    if (!message.mailFrom || !message.fromAddress) return null;
    const env = domainOf(message.mailFrom);
    const from = domainOf(message.fromAddress);
    if (alignedDomains(env, from)) return null;
    return {
      symbol: 'FROM_NOT_ALIGNED',
      weight: 0,
      detail: `From: ${from} is not aligned with the envelope sender's ${env}`,
      action: 'quarantine',
    };
  },
};
