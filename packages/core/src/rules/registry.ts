/**
 * The ordered rule registry: earlier rules take precedence for the action, and every rule that fires
 * is kept as a reason. The recipient's explicit lists come first (a blacklist beats a whitelist); then
 * everything that forbids a challenge — what can be recognised as automatic, as list mail, as forged,
 * or as unanswerable — holds the message quietly; only a sender that passes all of them is challenged.
 * docs/policy.md documents each rule; a test keeps the two in step.
 */
import type { Rule } from '../decision.js';
import { blacklistRule } from './blacklist.js';
import { whitelistRule } from './whitelist.js';
import { replyToSentRule, backscatterRule } from './sent-mail.js';
import { contentClassifierRule } from './content-classifier.js';
import { nullSenderRule } from './null-sender.js';
import { mailerDaemonRule, listSoftwareRule, noReplySenderRule } from './role-sender.js';
import { deliveryReportRule, reportSubjectRule } from './delivery-report.js';
import { autoSubmittedRule, autoReplyRule, autoResponseSuppressRule } from './auto-reply.js';
import { mailingListRule, bulkPrecedenceRule } from './mailing-list.js';
import { otherChallengeRule } from './other-cr-system.js';
import { notAddressedRule } from './not-addressed.js';
import { authenticationRule } from './authentication.js';
import { forgedLocalSenderRule } from './forged-local-sender.js';
import { unroutableSenderRule } from './unroutable-sender.js';
import { senderOptedOutRule } from './sender-opted-out.js';
import { challengesDisabledRule } from './challenges-disabled.js';
import { senderUnverifiedRule, fromNotAlignedRule } from './sender-evidence.js';
import { unknownSenderRule } from './unknown-sender.js';

export const RULES: readonly Rule[] = [
  blacklistRule,
  whitelistRule,
  replyToSentRule,
  backscatterRule,
  contentClassifierRule,
  nullSenderRule,
  mailerDaemonRule,
  deliveryReportRule,
  reportSubjectRule,
  otherChallengeRule,
  autoSubmittedRule,
  autoReplyRule,
  autoResponseSuppressRule,
  listSoftwareRule,
  mailingListRule,
  bulkPrecedenceRule,
  noReplySenderRule,
  authenticationRule,
  forgedLocalSenderRule,
  unroutableSenderRule,
  notAddressedRule,
  senderOptedOutRule,
  challengesDisabledRule,
  senderUnverifiedRule,
  fromNotAlignedRule,
  unknownSenderRule,
];
