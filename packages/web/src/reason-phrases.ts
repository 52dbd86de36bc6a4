/**
 * The decision's reasons in plain words for the quarantine pages. Symbols stay the stable names of
 * docs/policy.md; this is only how a recipient reads them. An unknown symbol is shown as itself.
 */
import type { QuarantineItem } from '@crgate/store';

export const REASON_PHRASES: Readonly<Record<string, string>> = {
  BLACKLIST_ADDRESS: 'sender on your blacklist',
  BLACKLIST_DOMAIN: "sender's domain on your blacklist",
  WHITELIST_ADDRESS: 'sender on your whitelist',
  WHITELIST_DOMAIN: "sender's domain on your whitelist",
  WHITELIST_FORGED: 'whitelisted sender, but the message looks forged',
  LOCAL_SUBMISSION: 'sent by a user of this server who logged in',
  REPLY_TO_SENT: 'a reply to mail you sent',
  BACKSCATTER: 'a bounce about mail you never sent',
  CONTENT_SPAM: 'content looks like spam',
  CONTENT_HAM: 'content looks normal',
  CONTENT_UNSURE: 'content uncertain',
  SCORER_SPAM: 'another spam filter calls it spam',
  SCORER_HAM: 'another spam filter vouches for it',
  SCORER_NEUTRAL: 'another spam filter has no strong opinion',
  NULL_SENDER: 'no return address (a bounce or notice)',
  MAILER_DAEMON_SENDER: 'sent by a mail system',
  DELIVERY_REPORT: 'a delivery report',
  BOUNCE_SUBJECT: 'looks like a bounce',
  CR_CHALLENGE: "another system's confirmation request",
  AUTO_SUBMITTED: 'sent automatically',
  AUTO_REPLY: 'an automatic reply',
  AUTO_RESPONSE_SUPPRESSED: 'sender asked for no automatic answers',
  LIST_SOFTWARE_SENDER: 'sent by mailing-list software',
  MAILING_LIST: 'mailing list',
  BULK_PRECEDENCE: 'bulk mail',
  NOREPLY_SENDER: 'a no-reply sender',
  SPF_FAIL: 'SPF check failed',
  SPF_SOFTFAIL: 'SPF soft fail',
  DKIM_FAIL: 'DKIM signature invalid',
  DMARC_FAIL: 'DMARC check failed',
  FORGED_LOCAL_SENDER: 'claims to come from your own domain',
  SENDER_IS_RECIPIENT: 'sent from your own address',
  SENDER_DOMAIN_UNROUTABLE: "sender's domain cannot receive mail",
  NOT_ADDRESSED_TO_RECIPIENT: 'not addressed to you (Bcc, list or alias)',
  SENDER_OPTED_OUT: 'sender asked not to be asked',
  CHALLENGES_DISABLED: 'your challenges are off',
  SENDER_UNVERIFIED: 'sender could not be verified',
  FROM_NOT_ALIGNED: 'From: differs from the real sender',
  UNKNOWN_SENDER: 'sender unknown',
  CHALLENGE_PENDING: 'a challenge is already out',
  RATE_LIMIT_PAIR: 'sender was asked recently',
  CHALLENGE_CONFIRMED: 'sender had just confirmed',
  RATE_LIMIT_SENDER: 'sender was asked too often this hour',
  RATE_LIMIT_GLOBAL: 'hourly limit of challenges reached',
  CHALLENGE_REJECTED: "sender's server refused the challenge",
  CHALLENGE_UNDELIVERABLE: 'challenge could not be sent',
  CHALLENGE_TOO_LONG: 'challenge could not be built',
  CHALLENGE_EXPIRED_UNSENT: 'challenge not sent in time',
  RELEASE_FAILED: 'released, but could not be delivered',
};

/** Authentication results that are only information (passes, none, neutral) are not listed. */
export function isInformative(symbol: string): boolean {
  return /^(SPF|DKIM|DMARC|ARC)_/.test(symbol) && !(symbol in REASON_PHRASES);
}

export function reasonPhrase(symbol: string): string {
  return REASON_PHRASES[symbol] ?? symbol.toLowerCase().replace(/_/g, ' ');
}

const DAY_MS = 86_400_000;

function daysAgo(then: Date, now: Date): string {
  const days = Math.floor((now.getTime() - then.getTime()) / DAY_MS);
  if (days <= 0) return 'today';
  if (days === 1) return 'yesterday';
  return `${days} days ago`;
}

/** What became of the copy's challenge, in words. */
export function challengePhrase(item: Pick<QuarantineItem, 'challenge'>, now: Date): string | undefined {
  const c = item.challenge;
  if (!c) return undefined;
  switch (c.status) {
    case 'queued':
      return 'challenge about to be sent';
    case 'sent':
      return `challenge sent ${daysAgo(c.sentAt ?? c.createdAt, now)}`;
    case 'confirmed':
      return 'sender confirmed';
    case 'expired':
      return `challenge sent ${daysAgo(c.sentAt ?? c.createdAt, now)}, never answered`;
    case 'suppressed':
      return 'no challenge sent';
    default:
      return undefined;
  }
}

/** The phrases shown for a copy: its challenge first, then each meaningful reason once. */
export function reasonPhrases(item: Pick<QuarantineItem, 'challenge' | 'reasons'> & { decision?: string }, now: Date): string[] {
  const out: string[] = [];
  const challenge = challengePhrase(item, now);
  if (challenge) out.push(challenge);
  for (const r of item.reasons) {
    if (typeof r?.symbol !== 'string' || isInformative(r.symbol)) continue;
    // "Unknown sender" is why a challenge is sent; beside a rule that held or discarded the mail it is noise.
    if (r.symbol === 'UNKNOWN_SENDER' && item.decision && item.decision !== 'challenge') continue;
    const phrase = reasonPhrase(r.symbol);
    if (!out.includes(phrase)) out.push(phrase);
  }
  return out;
}

export const DECISION_WORDS: Readonly<Record<string, string>> = {
  challenge: 'Asked to confirm',
  quarantine: 'Held',
  discard: 'Discarded',
  deliver: 'Delivered',
};

/** Reason symbols offered in the quarantine's filter, with their phrases. */
export const FILTER_REASONS: ReadonlyArray<{ symbol: string; phrase: string }> = Object.entries(REASON_PHRASES)
  .filter(([symbol]) => !/^(WHITELIST_ADDRESS|WHITELIST_DOMAIN|LOCAL_SUBMISSION|CONTENT_HAM|REPLY_TO_SENT)$/.test(symbol))
  .map(([symbol, phrase]) => ({ symbol, phrase }))
  .sort((a, b) => a.phrase.localeCompare(b.phrase));
