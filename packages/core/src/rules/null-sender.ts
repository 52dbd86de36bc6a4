/**
 * The null envelope sender `<>` is used by bounces and other automatic mail (RFC 5321 §4.5.5); a
 * challenge to it has nowhere to go. Hold it quietly.
 */
import type { Rule } from '../decision.js';

export const nullSenderRule: Rule = {
  id: 'null-sender',
  description: 'The envelope sender is empty (<>), as in bounces and other automatic mail',
  symbols: ['NULL_SENDER'],
  evaluate({ message }) {
    if (message.mailFrom !== '') return null;
    return { symbol: 'NULL_SENDER', weight: 0, detail: 'envelope sender is <>: nobody to challenge', action: 'quarantine' };
  },
};
