/** The recipient turned challenges off: uncertain mail waits in the quarantine. */
import type { Rule } from '../decision.js';

export const challengesDisabledRule: Rule = {
  id: 'challenges-disabled',
  description: 'The recipient turned challenges off',
  symbols: ['CHALLENGES_DISABLED'],
  evaluate({ recipient }) {
    if (recipient.challengesEnabled) return null;
    return { symbol: 'CHALLENGES_DISABLED', weight: 0, detail: 'the recipient does not send challenges', action: 'quarantine' };
  },
};
