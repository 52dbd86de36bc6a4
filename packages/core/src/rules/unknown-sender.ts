/** Catch-all: a sender the recipient has not vouched for is asked to confirm. Must stay last. */
import type { Rule } from '../decision.js';

export const unknownSenderRule: Rule = {
  id: 'unknown-sender',
  description: 'The sender is not on any list of the recipient',
  symbols: ['UNKNOWN_SENDER'],
  evaluate({ recipient }) {
    if (recipient.whitelisted || recipient.blacklisted) return null;
    return { symbol: 'UNKNOWN_SENDER', weight: 0, detail: 'sender not on any list', action: 'challenge' };
  },
};
