/** The recipient blacklisted the sender's address or domain: discard. Checked before the whitelist. */
import type { Rule } from '../decision.js';

export const blacklistRule: Rule = {
  id: 'blacklist',
  description: "The sender's address or domain is on the recipient's blacklist",
  symbols: ['BLACKLIST_ADDRESS', 'BLACKLIST_DOMAIN'],
  evaluate({ recipient }) {
    const m = recipient.blacklisted;
    if (!m) return null;
    return {
      symbol: m.kind === 'address' ? 'BLACKLIST_ADDRESS' : 'BLACKLIST_DOMAIN',
      weight: 10,
      detail: `${m.kind} ${m.value} is on the blacklist (${m.source})`,
      action: 'discard',
    };
  },
};
