/** The sender asked, from a challenge page, not to be challenged again: hold without a challenge. */
import type { Rule } from '../decision.js';

export const senderOptedOutRule: Rule = {
  id: 'sender-opted-out',
  description: 'The sender asked not to be challenged again',
  symbols: ['SENDER_OPTED_OUT'],
  evaluate({ recipient }) {
    if (!recipient.senderOptedOut) return null;
    return {
      symbol: 'SENDER_OPTED_OUT',
      weight: 0,
      detail: 'the sender asked not to be challenged',
      action: 'quarantine',
    };
  },
};
