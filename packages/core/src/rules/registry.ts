/**
 * The ordered rule registry: earlier rules take precedence. A blacklist beats a whitelist (the
 * recipient's explicit "no" wins), and nothing is challenged that a rule before the catch-all recognised.
 */
import type { Rule } from '../decision.js';
import { blacklistRule } from './blacklist.js';
import { whitelistRule } from './whitelist.js';
import { nullSenderRule } from './null-sender.js';
import { senderOptedOutRule } from './sender-opted-out.js';
import { unknownSenderRule } from './unknown-sender.js';

export const RULES: readonly Rule[] = [blacklistRule, whitelistRule, nullSenderRule, senderOptedOutRule, unknownSenderRule];
