/**
 * Challenges sent by other challenge/response systems. Answering a challenge with a challenge makes
 * a loop between two robots; the user decides, from the quarantine, whether to answer it.
 */
import type { Rule } from '../decision.js';
import { firstHeader, headerValues, localPartOf } from '../signals.js';
import { domainOf } from '../address.js';
import { excerpt } from './excerpt.js';

// Headers C/R systems put on their challenges. Besides ours, the markers SpamAssassin's VBounce rules
// (20_vbounce.cf, CRBOUNCE_MESSAGE) recognise challenges by: Bluebottle's X-Bluebottle-Request, ASK's
// X-AskVersion, Spamazoid's X-Spamazoid-MD, Spamlion's Spamlion, ExiSpam's X-ExiSpam.
const CR_HEADERS = [
  'x-boxtrapper',
  'x-boxbe-challenge',
  'x-bluebottle-challenge',
  'x-bluebottle-request',
  'x-askversion',
  'x-spamazoid-md',
  'spamlion',
  'x-exispam',
  'x-spamarrest',
  'x-cr-challenge',
  'x-challenge',
];
// TMDA names its confirmation requests `<…-tmda-confirm>` (VBounce's __CRBOUNCE_TMDA).
const TMDA_CONFIRM_ID = /-tmda-confirm>\s*$/i;
const CR_SENDER_DOMAINS = new Set(['boxbe.com', 'bluebottle.com', 'spamarrest.com', 'mailblocks.com', 'sendio.com']);
const CR_SUBJECT = /^(?:re:\s*)*(?:c\/r:|your email requires verification|please confirm your (?:e-?mail|message)|verify your email to|\[boxbe\])/i;

export const otherChallengeRule: Rule = {
  id: 'other-cr-system',
  description: 'A challenge from another C/R system (Auto-Submitted: auto-replied (challenge), "C/R:" subjects, Boxbe, BoxTrapper, Bluebottle, ASK, TMDA markers)',
  symbols: ['CR_CHALLENGE'],
  evaluate({ message }) {
    const auto = firstHeader(message, 'auto-submitted')?.toLowerCase() ?? '';
    if (auto.includes('(challenge)')) return { symbol: 'CR_CHALLENGE', weight: 0, detail: `Auto-Submitted: ${auto}`, action: 'quarantine' };
    const marker = CR_HEADERS.find((h) => headerValues(message, h).length > 0);
    if (marker) return { symbol: 'CR_CHALLENGE', weight: 0, detail: `has ${marker}`, action: 'quarantine' };
    if (TMDA_CONFIRM_ID.test(firstHeader(message, 'message-id') ?? '')) {
      return { symbol: 'CR_CHALLENGE', weight: 0, detail: 'Message-ID of a TMDA confirmation request', action: 'quarantine' };
    }
    const senders = [message.mailFrom, message.fromAddress ?? ''].filter(Boolean);
    const crDomain = senders.map(domainOf).find((d) => CR_SENDER_DOMAINS.has(d));
    if (crDomain && senders.some((s) => /^(no-?reply|challenge|verify|notifications?)/.test(localPartOf(s)))) {
      return { symbol: 'CR_CHALLENGE', weight: 0, detail: `sent by the C/R service ${crDomain}`, action: 'quarantine' };
    }
    if (CR_SUBJECT.test(message.subject ?? '')) {
      return { symbol: 'CR_CHALLENGE', weight: 0, detail: `subject "${excerpt(message.subject ?? '', 60)}" is a C/R challenge`, action: 'quarantine' };
    }
    return null;
  },
};
