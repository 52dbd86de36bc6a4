/** The recipient whitelisted the sender's address or domain: deliver. */
import type { Rule } from '../decision.js';

export const whitelistRule: Rule = {
  id: 'whitelist',
  description: "The sender's address or domain is on the recipient's whitelist",
  evaluate({ recipient }) {
    const m = recipient.whitelisted;
    if (!m) return null;
    return {
      symbol: m.kind === 'address' ? 'WHITELIST_ADDRESS' : 'WHITELIST_DOMAIN',
      weight: -10,
      detail: `${m.kind} ${m.value} is on the whitelist (${m.source})`,
      action: 'deliver',
    };
  },
};
