/**
 * RFC 3834 §2 and RFC 5230 §4.5: answer only mail sent directly to the user. If none of the
 * recipient's addresses is in To, Cc, Resent-To or Resent-Cc, the message came by Bcc, a list or an
 * alias expansion, and its sender did not write to this person.
 */
import type { Rule } from '../decision.js';

export const notAddressedRule: Rule = {
  id: 'not-addressed-to-recipient',
  description: "The recipient's address (or an alias) is not in To, Cc, Resent-To or Resent-Cc",
  symbols: ['NOT_ADDRESSED_TO_RECIPIENT'],
  evaluate({ message, recipient }) {
    const listed = message.headerRecipients;
    if (!listed) return null;
    if (recipient.addresses.some((a) => listed.includes(a))) return null;
    return {
      symbol: 'NOT_ADDRESSED_TO_RECIPIENT',
      weight: 0,
      detail: `${recipient.address} is not in To/Cc`,
      action: 'quarantine',
    };
  },
};
